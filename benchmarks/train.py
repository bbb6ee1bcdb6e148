"""The real training run of issue 11, for BENCHMARKS.md ("Training").

    nice python benchmarks/train.py [DATA_DIR] [--references N --queries N --distractors N]
                                    [--views 4] [--max-steps 400] [--max-images N] [--out DIR]

1. Draws the evaluation set exactly as ``navee-monitor evaluate`` does (same
   seed and counts) and leaves its references and distractor images out of
   training: the model never sees an evaluation reference or distractor.
2. Trains the ``ssl`` objective (SSCD-style, no labels) on the remaining
   artworks and photographs of the manifest: EfficientNet-Lite0 ImageNet
   weights, all but the last ``--trainable-layers`` layers frozen, strong
   views cached through the frozen part (``--cache-views``).
3. Runs ``navee-monitor evaluate`` twice on the same set: the ImageNet
   backbone (the configured default) and ``--model`` the new artifact, and
   prints both metric lines and timings; everything goes to ``OUT/results.json``.
4. With ``--calibrate``: then fits the matcher's score model for the new
   descriptor exactly as ``benchmarks/calibrate.py`` fits the default one
   (seed 1, 200 references / 400 copies / 200 distractors, never the
   evaluation's seed 0), stores it in the artifact (the matcher uses it
   whenever that model is loaded) and evaluates the artifact a third time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import resource
import sys
import time
from pathlib import Path

from navee_monitor.cli.main import main
from navee_monitor.evaluation.dataset import build_evaluation_set, read_manifest
from navee_monitor.settings import load_settings
from navee_monitor.training.data import TrainingData, TrainingItem
from navee_monitor.training.train import TrainOptions, train


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _evaluate(data: str, counts: list[str], data_dir: str | None, model: Path | None) -> dict:
    argv = (["--data-dir", data_dir] if data_dir else []) + ["evaluate", data, *counts, "--json"]
    if model:
        argv += ["--model", str(model)]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(argv)
    if status != 0:
        raise SystemExit(f"evaluate failed with status {status}")
    return json.loads(buf.getvalue())


def run() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default="../shared/data")
    p.add_argument("--data-dir", help="navee data directory (default: the configured one)")
    p.add_argument("--references", type=int, default=100)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--distractors", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation set")
    p.add_argument("--views", type=int, default=4, help="cached strong views per training image")
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--trainable-layers", type=int, default=10)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--embedding-dim", type=int, default=512,
                   help="projection size; 1280 (Lite0's channels) starts from the identity")
    p.add_argument("--view-kind", choices=["strong", "copy"], default="strong",
                   help="copy: clean image paired with a copy edit (crop, pasted in a photo, collage, screenshot, caption)")
    p.add_argument("--l2sp", type=float, default=0.0, help="L2-SP strength (0 = off)")
    p.add_argument("--koleo", type=float, default=0.0, help="KoLeo weight (0 = off)")
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--max-images", type=int, default=0, help="at most this many training images (0 = all)")
    p.add_argument("--out", default="/tmp/navee-train-benchmark")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the score model for the trained descriptor (seed 1) and store it in the artifact")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--reuse-model", action="store_true", help="evaluate OUT/model again, without training")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = load_settings(None, overrides={"data_dir": args.data_dir} if args.data_dir else {})

    eval_set = build_evaluation_set(Path(args.data), references=args.references, positives=args.queries,
                                    distractors=args.distractors, seed=args.seed)
    excluded = {r.path for r in eval_set.references} | {q.source for q in eval_set.queries}
    items = [TrainingItem(m.key, m.path) for m in read_manifest(Path(args.data)) if m.path not in excluded]
    if args.max_images:
        items = items[:: max(1, len(items) // args.max_images)][: args.max_images]
    data = TrainingData(items, [], f"{args.data} minus the evaluation set's {len(excluded)} images")
    opts = TrainOptions.from_settings(settings, objective="ssl", cache_views=args.views, max_steps=args.max_steps,
                                      batch_size=args.batch_size, trainable_layers=args.trainable_layers,
                                      learning_rate=args.learning_rate, validation_fraction=0.05,
                                      embedding_dim=args.embedding_dim, views=args.view_kind, l2sp=args.l2sp,
                                      koleo=args.koleo, temperature=args.temperature)
    t0, c0 = time.perf_counter(), _cpu_s()
    if args.reuse_model:
        from navee_monitor.training.artifact import read_manifest as read_artifact

        manifest = read_artifact(out / "model")[1]
        train_wall, train_cpu = manifest["metrics"]["train_seconds"], float("nan")
    else:
        manifest = train(settings, data, opts, out / "model").manifest
        train_wall, train_cpu = time.perf_counter() - t0, _cpu_s() - c0
    print(f"trained on {len(items)} images in {train_wall / 60:.1f} min wall, {train_cpu / 60:.1f} min CPU: "
          f"{manifest['metrics']}", flush=True)

    counts = ["--references", str(args.references), "--queries", str(args.queries),
              "--distractors", str(args.distractors), "--seed", str(args.seed)]
    results = {"training": {"images": len(items), "excluded": len(excluded), "wall_s": round(train_wall),
                            "cpu_s": train_cpu, "manifest": manifest}, "calibration": None}

    def evaluate(name: str, model: Path | None) -> None:
        t0, c0 = time.perf_counter(), _cpu_s()
        summary = _evaluate(args.data, counts, args.data_dir, model)
        results[name] = {k: summary[k] for k in ("uAP", "R@P90", "recall@1", "recall@10", "per_group", "pipeline",
                                                 "alert_precision", "alert_recall", "distractors_alerted")}
        results[name]["wall_s"], results[name]["cpu_s"] = round(time.perf_counter() - t0), round(_cpu_s() - c0)
        print(f"{name}: uAP {summary['uAP']:.4f}  R@P90 {summary['R@P90']:.4f}  recall@1 {summary['recall@1']:.4f} "
              f"per group {json.dumps(summary['per_group'])}", flush=True)

    from navee_monitor.training.artifact import write_score_model

    if args.calibrate:
        write_score_model(out / "model", None)  # first the default score model (a reused artifact may carry one)
    if not args.skip_baseline:
        evaluate("imagenet", None)
    evaluate("trained", out / "model")
    if args.calibrate:
        from navee_monitor.training.calibration import calibrate

        t0, c0 = time.perf_counter(), _cpu_s()
        with_model = settings.model_copy(update={"embedding": settings.embedding.model_copy(
            update={"model_path": str((out / "model").resolve())})})
        calibration = calibrate(with_model, Path(args.data), progress=True)
        write_score_model(out / "model", calibration)
        calibration["wall_s"], calibration["cpu_s"] = round(time.perf_counter() - t0), round(_cpu_s() - c0)
        results["calibration"] = calibration
        print(f"calibrated on seed {calibration['set']['seed']}: {calibration['model']} "
              f"({calibration['wall_s']} s wall)", flush=True)
        evaluate("trained_calibrated", out / "model")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run())
