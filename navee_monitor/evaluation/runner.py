"""Run the real pipeline on an evaluation set, with the hash baselines beside it.

The product is evaluated exactly as it runs: a temporary data directory
(SQLite database migrated there), the references written to a folder and
added with ``add_references`` (decode, store, embed, index), then every query
encoded as a JPEG, decoded by the product's safe decoder and passed in batches
to ``Matcher.match`` (the code path of ``navee-monitor match``). The user's
data directory is never written, except for ``models/``, which is shared with
the temporary one (cached converted weights and the YOLO files).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from navee_monitor.errors import NaveeError
from navee_monitor.evaluation.baselines import HashBaseline, build_baselines
from navee_monitor.evaluation.dataset import EvaluationSet, QuerySpec, load_rgb
from navee_monitor.evaluation.metrics import Prediction, QueryTruth, evaluate_system
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)

SYSTEM = "navee"
#: queries travel as JPEG bytes, like crawled copies, at this quality
QUERY_JPEG_QUALITY = 92


@dataclass
class QueryOutcome:
    qid: str
    #: per system: [(reference, score, alert)] best first
    results: dict[str, list[tuple[str, float, bool]]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class EvaluationRun:
    eval_set: EvaluationSet
    outcomes: dict[str, QueryOutcome]
    predictions: dict[str, list[Prediction]]
    errors: list[dict]
    #: seconds each system spent on the queries
    seconds: dict[str, float]
    matched_images: int
    ingest_seconds: float
    total_seconds: float
    pipeline: dict

    def images_per_s(self, system: str) -> float | None:
        spent = self.seconds.get(system, 0.0)
        return self.matched_images / spent if spent > 0 else None

    @property
    def truths(self) -> list[QueryTruth]:
        return [QueryTruth(q.qid, q.truth, q.group, q.transform, q.label) for q in self.eval_set.queries]


def evaluation_settings(settings: Settings, data_dir: Path) -> Settings:
    """The user's settings with everything written under ``data_dir`` (SQLite there)."""
    database = settings.database.model_copy(update={"url": ""})
    return settings.model_copy(update={"data_dir": data_dir, "database": database})


def _share_models(settings: Settings, tmp: Path) -> None:
    models = settings.path("models")
    if models.is_dir():
        try:
            os.symlink(models.resolve(), tmp / "models", target_is_directory=True)
        except OSError as exc:  # e.g. no symlinks on this file system: converted weights get rebuilt
            log.warning("cannot share %s with the evaluation (%s); models are loaded afresh", models, exc)


def as_crawled(rgb: np.ndarray, settings: Settings) -> np.ndarray:
    """JPEG-encode and decode with the product's decoder, as a crawled copy would be."""
    from navee_monitor.imaging.decode import decode_image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=QUERY_JPEG_QUALITY)
    return decode_image(buf.getvalue(), settings.imaging, max_side=settings.imaging.max_side)


def ingest_references(settings: Settings, eval_set: EvaluationSet, folder: Path) -> list[dict]:
    """Write the reference files (key = file stem) and add them with the product's ingest."""
    from navee_monitor.references.ingest import add_references

    folder.mkdir(parents=True, exist_ok=True)
    for ref in eval_set.references:
        shutil.copyfile(ref.path, folder / f"{ref.key}{ref.path.suffix.lower()}")
    report = add_references(settings, [str(folder)], collection="evaluation", progress=False)
    errors = [{"stage": "reference", "item": key, "error": f"{reason}: {message}"} for key, reason, message in report.failed]
    errors += [{"stage": "reference", "item": key, "error": f"same pixels as reference {other}, not indexed"}
               for key, other in report.duplicates]
    log.info("evaluation references: %d added, %d failed, %d duplicate(s)", report.added, report.failed_count,
             len(report.duplicates))
    return errors


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def collect_predictions(
    matcher,
    eval_set: EvaluationSet,
    settings: Settings,
    baselines: dict[str, HashBaseline],
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, QueryOutcome], list[dict], dict[str, float], int]:
    """Render, match and hash every query.

    Returns the outcomes, the errors, the seconds each system spent on the
    queries (``match`` calls; hashing and search for the baselines) and the
    number of images matched."""
    outcomes = {q.qid: QueryOutcome(q.qid) for q in eval_set.queries}
    errors: list[dict] = []
    seconds = {SYSTEM: 0.0, **{name: 0.0 for name in baselines}}
    matched = done = 0
    for batch in _batches(eval_set.queries, batch_size):
        images, specs = [], []
        for q in batch:
            try:
                images.append(as_crawled(eval_set.render(q), settings))
                specs.append(q)
            except Exception as exc:  # noqa: BLE001 - a transform bug is one counted error, not a lost run
                log.warning("query %s (%s) could not be rendered: %s", q.qid, q.transform, exc)
                outcomes[q.qid].error = f"render: {exc}"
                errors.append({"stage": "render", "item": q.qid, "error": f"{type(exc).__name__}: {exc}"})
        seconds[SYSTEM] += _match_batch(matcher, specs, images, outcomes, errors)
        matched += len(images)
        for name, baseline in baselines.items():
            t0 = time.perf_counter()
            for q, img in zip(specs, images):
                outcomes[q.qid].results[name] = [(p.reference, p.score, p.alert) for p in baseline.search(q.qid, img)]
            seconds[name] += time.perf_counter() - t0
        done += len(batch)
        if progress:
            progress(done, len(eval_set.queries))
    return outcomes, errors, seconds, matched


def _match_batch(matcher, specs: list[QuerySpec], images: list[np.ndarray], outcomes, errors) -> float:
    """Match one batch; when the batch fails, each image alone, so one bad image is one error."""
    if not images:
        return 0.0
    t0 = time.perf_counter()
    try:
        per_image = matcher.match(images)
    except Exception as exc:  # noqa: BLE001 - isolate the image that fails
        log.warning("a batch failed (%s: %s); matching its images one by one", type(exc).__name__, exc)
        per_image, failures = [], []
        for q, img in zip(specs, images):
            try:
                per_image.append(matcher.match([img])[0])
            except Exception as one:  # noqa: BLE001 - counted in "errors" and listed
                log.warning("query %s failed in match: %s: %s", q.qid, type(one).__name__, one)
                outcomes[q.qid].error = f"match: {one}"
                errors.append({"stage": "match", "item": q.qid, "error": f"{type(one).__name__}: {one}"})
                per_image.append([])
                failures.append(one)
        if len(images) > 1 and len(failures) == len(images) and not any(isinstance(f, NaveeError) for f in failures):
            # not one image can be matched: the pipeline is broken, not the data
            raise NaveeError(f"the matcher fails on every image: {type(exc).__name__}: {exc}") from exc
    elapsed = time.perf_counter() - t0
    for q, results in zip(specs, per_image):
        outcomes[q.qid].results[SYSTEM] = [(r.reference, float(r.score), r.verdict == "match") for r in results]
    return elapsed


def run_evaluation(
    settings: Settings,
    eval_set: EvaluationSet,
    *,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationRun:
    """Ingest the references into a fresh data directory and match every query."""
    from navee_monitor.matching.matcher import Matcher
    from navee_monitor.store import db

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="navee-eval-") as tmp_name:
        tmp = Path(tmp_name)
        _share_models(settings, tmp)
        eval_settings = evaluation_settings(settings, tmp)
        db.upgrade(eval_settings.database_url)
        try:
            t0 = time.perf_counter()
            errors = ingest_references(eval_settings, eval_set, tmp / "reference-files")
            ingest_seconds = time.perf_counter() - t0

            baselines = build_baselines(settings.matching.pdq_max_distance, settings.matching.top_k)
            refs = [load_rgb(r.path) for r in eval_set.references]
            for baseline in baselines.values():
                baseline.add_references([r.key for r in eval_set.references], refs)
            del refs

            # (a trained model's artifact may carry its own calibrated score model: Matcher uses it)
            matcher = Matcher(eval_settings)
            outcomes, query_errors, seconds, matched = collect_predictions(
                matcher, eval_set, eval_settings, baselines,
                batch_size=batch_size or settings.matching.batch_size, progress=progress,
            )
            pipeline = _pipeline_facts(matcher, eval_settings)
        finally:
            db.dispose_engines()
    predictions: dict[str, list[Prediction]] = {}
    for system in [SYSTEM, *baselines]:
        predictions[system] = [
            Prediction(o.qid, ref, score, alert) for o in outcomes.values() for ref, score, alert in o.results.get(system, [])
        ]
    return EvaluationRun(
        eval_set=eval_set,
        outcomes=outcomes,
        predictions=predictions,
        errors=errors + query_errors,
        seconds=seconds,
        matched_images=matched,
        ingest_seconds=ingest_seconds,
        total_seconds=time.perf_counter() - started,
        pipeline=pipeline,
    )


def _pipeline_facts(matcher, settings: Settings) -> dict:
    facts = {
        "threshold": settings.matching.threshold,
        "index": settings.index.kind,
        "detector": settings.detector.enabled,
    }
    try:
        facts["model_version"] = matcher.model_version
        facts["references_indexed"] = len(matcher.catalog)
        # the score model in use: the default one, or a trained model's own calibration
        facts["score_model"] = {k: v for k, v in vars(matcher.score_model).items() if k != "pdq_max_distance"}
        facts["detector"] = bool(settings.detector.enabled and matcher.proposer is not None)
        # where the matching time goes (regions, embed, search, verify), for whoever tunes it
        facts["stage_seconds"] = {k: round(v, 2) for k, v in getattr(matcher, "timings", {}).items()}
    except Exception as exc:  # noqa: BLE001 - facts are informative; never fail the run for them
        log.debug("pipeline facts incomplete: %s", exc)
    return facts


def summarize(run: EvaluationRun, label_k: int = 5) -> dict:
    """The JSON document of ``evaluate --json``."""
    truths = run.truths
    labels = run.eval_set.reference_labels
    ours = evaluate_system(truths, run.predictions[SYSTEM], labels, label_k)
    out = {
        "uAP": ours["uAP"],
        "R@P90": ours["R@P90"],
        "recall@1": ours["recall@1"],
        "recall@10": ours["recall@10"],
        "per_group": ours["per_group"],
        "per_transform": ours["per_transform"],
        "alert_precision": ours["alert_precision"],
        "alert_recall": ours["alert_recall"],
        "alerts": ours["alerts"],
        "false_alerts": ours["false_alerts"],
        "distractors_alerted": ours["distractors_alerted"],
        "threshold_at_p90": ours["threshold_at_p90"],
        "label_precision": ours["label_precision"],
        "images_per_s": run.images_per_s(SYSTEM),
        "errors": len(run.errors),
        "error_list": run.errors[:50],
        "set": {
            "seed": run.eval_set.seed,
            "references": len(run.eval_set.references),
            "positive_queries": len(run.eval_set.positives),
            "distractor_queries": len(run.eval_set.queries) - len(run.eval_set.positives),
            "transforms": len({q.transform for q in run.eval_set.positives}),
        },
        "pipeline": run.pipeline,
        "timings_s": {
            "ingest": round(run.ingest_seconds, 2),
            "match": round(run.seconds[SYSTEM], 2),
            "total": round(run.total_seconds, 2),
        },
        "baselines": {},
    }
    for name, preds in run.predictions.items():
        if name == SYSTEM:
            continue
        m = evaluate_system(truths, preds, labels, label_k)
        out["baselines"][name] = {k: m[k] for k in (
            "uAP", "R@P90", "recall@1", "recall@10", "per_group", "per_transform", "alert_precision",
            "alert_recall", "alerts", "false_alerts", "distractors_alerted", "threshold_at_p90", "label_precision",
        )}
        out["baselines"][name]["images_per_s"] = run.images_per_s(name)
        out["baselines"][name]["errors"] = len(run.errors)
    return out
