"""Fit the matcher's score model (``navee_monitor.matching.scoring``) by logistic regression.

Builds an evaluation set from ../shared/data with a seed *different* from
``evaluate``'s (so the evaluation stays a held-out measure), runs the real
matcher with ``min_score: 0`` so every candidate is kept with its evidence
(re-weighted cosine, RANSAC inliers, coverage), labels each candidate
(right reference or not), and fits ``sigmoid(b + w1*cos + w2*log1p(inliers)
+ w3*coverage)`` with Newton's method (L2-regularised); the code is
``navee_monitor.training.calibration``. Prints the coefficients and the
precision / recall of the fitted model at a few thresholds.

Without ``--model``: the ImageNet descriptor; paste the coefficients into
``scoring.DEFAULT_MODEL``. With ``--model PATH`` (a ``navee-monitor train``
artifact): that descriptor; ``--write`` stores the coefficients in the
artifact's manifest, and the matcher uses them whenever that model is the
configured one (``embedding.model_path`` / ``--model``).

    python benchmarks/calibrate.py [--references 200] [--positives 400] [--distractors 200] [--seed 1]
                                   [--model PATH [--write]]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from navee_monitor.training.calibration import CALIBRATION_SET, calibrate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--references", type=int, default=CALIBRATION_SET["references"])
    ap.add_argument("--positives", type=int, default=CALIBRATION_SET["positives"])
    ap.add_argument("--distractors", type=int, default=CALIBRATION_SET["distractors"])
    ap.add_argument("--seed", type=int, default=CALIBRATION_SET["seed"])
    ap.add_argument("--model", help="a trained model artifact (default: the configured descriptor)")
    ap.add_argument("--write", action="store_true", help="store the fitted score model in --model's manifest")
    args = ap.parse_args()
    if args.write and not args.model:
        ap.error("--write needs --model (the default model's coefficients go into scoring.DEFAULT_MODEL)")
    if args.seed == 0:
        print("warning: seed 0 is evaluate's; calibrating on it flatters the evaluation", file=sys.stderr)

    from navee_monitor.settings import load_settings

    overrides = {"embedding": {"model_path": str(Path(args.model).resolve())}} if args.model else None
    settings = load_settings(None, use_default_file=True, overrides=overrides)
    report = calibrate(settings, Path(args.data), references=args.references, positives=args.positives,
                       distractors=args.distractors, seed=args.seed)
    if args.write:
        from navee_monitor.training.artifact import write_score_model

        write_score_model(Path(args.model), report)
        report["written_to"] = str(Path(args.model).resolve())
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
