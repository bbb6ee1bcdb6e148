"""Fit the matcher's score model (``navee_monitor.matching.scoring``) by logistic regression.

Builds an evaluation set from ../shared/data with a seed *different* from
``evaluate``'s (so the evaluation stays a held-out measure), runs the real
matcher with ``min_score: 0`` so every candidate is kept with its evidence
(re-weighted cosine, RANSAC inliers, coverage), labels each candidate
(right reference or not), and fits ``sigmoid(b + w1*cos + w2*log1p(inliers)
+ w3*coverage)`` with Newton's method (L2-regularised). Prints the
coefficients to paste into ``scoring.DEFAULT_MODEL`` and the precision /
recall of the fitted model at a few thresholds.

    python benchmarks/calibrate.py [--references 200] [--positives 400] [--distractors 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def features(details: dict) -> list[float]:
    return [details["weighted_cosine"], math.log1p(details["inliers"]), details["coverage"]]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    x1 = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x1.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x1 @ w, -60, 60)))
        grad = x1.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (x1 * (p * (1 - p))[:, None]).T @ x1 + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--references", type=int, default=200)
    ap.add_argument("--positives", type=int, default=400)
    ap.add_argument("--distractors", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from navee_monitor.evaluation.dataset import build_evaluation_set
    from navee_monitor.evaluation.runner import as_crawled, evaluation_settings, ingest_references
    from navee_monitor.matching.matcher import Matcher
    from navee_monitor.settings import load_settings
    from navee_monitor.store import db

    base = load_settings(None, use_default_file=True)
    eval_set = build_evaluation_set(Path(args.data), references=args.references, positives=args.positives,
                                    distractors=args.distractors, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = evaluation_settings(base, Path(tmp) / "data")
        settings = settings.model_copy(update={"matching": settings.matching.model_copy(update={"min_score": 0.0})})
        db.upgrade(settings.database_url)
        ingest_references(settings, eval_set, Path(tmp) / "refs")
        matcher = Matcher(settings)
        rows, labels, query_of = [], [], []
        t0 = time.time()
        queries = eval_set.queries
        for start in range(0, len(queries), 16):
            batch = queries[start : start + 16]
            images = [as_crawled(eval_set.render(q), settings) for q in batch]
            for q, results in zip(batch, matcher.match(images)):
                for r in results:
                    if r.details.get("pdq_distance") is not None and r.details["pdq_distance"] <= settings.matching.pdq_max_distance:
                        continue  # the PDQ tier decides those on its own
                    rows.append(features(r.details))
                    labels.append(1.0 if r.reference == q.truth else 0.0)
                    query_of.append(q.qid)
            print(f"\r{min(start + 16, len(queries))}/{len(queries)} queries", end="", file=sys.stderr)
        print(file=sys.stderr)
        db.dispose_engines()
    x, y = np.array(rows), np.array(labels)
    w = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ w)))
    report = {"candidates": len(y), "positives": int(y.sum()), "seconds": round(time.time() - t0, 1),
              "model": {"bias": round(w[0], 3), "w_cosine": round(w[1], 3), "w_inliers": round(w[2], 3),
                        "w_coverage": round(w[3], 3)}, "at_threshold": {}}
    for t in (0.3, 0.5, 0.7, 0.9):
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        report["at_threshold"][str(t)] = {"precision": round(tp / max(1, pred.sum()), 4),
                                          "recall_of_candidates": round(tp / max(1, y.sum()), 4)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
