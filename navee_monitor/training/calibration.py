"""The matcher's score model fitted for one descriptor model.

The matcher's score (:mod:`navee_monitor.matching.scoring`) is a logistic
model over the CNN cosine, the RANSAC inliers and their coverage; its
default coefficients were fitted for the ImageNet descriptor's cosines. A
trained descriptor spreads its cosines differently (NT-Xent pushes
non-copies far apart), so a trained artifact carries its own coefficients,
fitted exactly as the default ones are (``benchmarks/calibrate.py``): an
evaluation set drawn with a seed other than ``evaluate``'s (1; ``evaluate``
uses 0), the real matcher with ``min_score: 0`` so that every candidate is
kept with its evidence, candidates decided by the PDQ tier left out, and an
L2-regularised logistic regression (Newton's method) on "right reference or
not". :func:`navee_monitor.training.artifact.score_model_for` returns them
whenever that artifact is the configured model.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from navee_monitor.settings import Settings

log = logging.getLogger(__name__)

#: the calibration set: ``benchmarks/calibrate.py``'s defaults (seed 1, disjoint from evaluate's 0)
CALIBRATION_SET = {"references": 200, "positives": 400, "distractors": 200, "seed": 1}


def evidence_features(details: dict) -> list[float]:
    """The score model's inputs from a match result's details: weighted cosine, log1p(inliers), coverage."""
    return [details["weighted_cosine"], math.log1p(details["inliers"]), details["coverage"]]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """[bias, weights...] of an L2-regularised logistic regression (the bias is not penalised)."""
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


def coefficients(w: np.ndarray) -> dict:
    return {"bias": round(float(w[0]), 3), "w_cosine": round(float(w[1]), 3), "w_inliers": round(float(w[2]), 3),
            "w_coverage": round(float(w[3]), 3)}


def collect_candidates(settings: Settings, eval_set, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(evidence rows, labels) of every candidate the real matcher returns for the set's queries."""
    from navee_monitor.evaluation.runner import (
        as_crawled,
        evaluation_settings,
        ingest_references,
    )
    from navee_monitor.matching.matcher import Matcher
    from navee_monitor.store import db

    rows, labels = [], []
    with tempfile.TemporaryDirectory(prefix="navee-calibrate-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        models = settings.path("models")
        if models.is_dir():  # share converted weights and the YOLO files, as evaluate does
            (data / "models").symlink_to(models.resolve(), target_is_directory=True)
        s = evaluation_settings(settings, data)
        s = s.model_copy(update={"matching": s.matching.model_copy(update={"min_score": 0.0})})
        try:
            db.upgrade(s.database_url)
            ingest_references(s, eval_set, Path(tmp) / "refs")
            matcher = Matcher(s)
            queries = eval_set.queries
            for start in range(0, len(queries), 16):
                batch = queries[start:start + 16]
                images = [as_crawled(eval_set.render(q), s) for q in batch]
                for q, results in zip(batch, matcher.match(images)):
                    for r in results:
                        pdq = r.details.get("pdq_distance")
                        if pdq is not None and pdq <= s.matching.pdq_max_distance:
                            continue  # the PDQ tier decides those on its own
                        rows.append(evidence_features(r.details))
                        labels.append(1.0 if r.reference == q.truth else 0.0)
                if progress:
                    log.info("calibration: %d/%d queries", min(start + 16, len(queries)), len(queries))
        finally:
            db.dispose_engines()
    return np.array(rows, np.float64).reshape(-1, 3), np.array(labels, np.float64)


def calibrate(settings: Settings, data: Path, *, references: int = CALIBRATION_SET["references"],
              positives: int = CALIBRATION_SET["positives"], distractors: int = CALIBRATION_SET["distractors"],
              seed: int = CALIBRATION_SET["seed"], progress: bool = False) -> dict:
    """Fit the score model for the configured descriptor (``embedding.model_path`` or the backbone).

    Returns ``{"model": coefficients, "candidates", "positives", "seconds", "set": ..., "at_threshold": ...}``."""
    from navee_monitor.evaluation.dataset import build_evaluation_set

    t0 = time.perf_counter()
    eval_set = build_evaluation_set(Path(data), references=references, positives=positives,
                                    distractors=distractors, seed=seed)
    x, y = collect_candidates(settings, eval_set, progress)
    if y.sum() < 2 or (1 - y).sum() < 2:
        from navee_monitor.errors import UsageError

        raise UsageError(f"calibration needs right and wrong candidates; got {int(y.sum())} right of {len(y)}")
    w = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ w)))
    report = {"model": coefficients(w), "candidates": len(y), "positives": int(y.sum()),
              "seconds": round(time.perf_counter() - t0, 1),
              "set": {"data": str(data), "references": references, "positives": positives,
                      "distractors": distractors, "seed": seed},
              "at_threshold": {}}
    for t in (0.3, 0.5, 0.7, 0.9):
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        report["at_threshold"][str(t)] = {"precision": round(tp / max(1, pred.sum()), 4),
                                          "recall_of_candidates": round(tp / max(1, y.sum()), 4)}
    return report
