"""Copy-detection metrics, as defined by the Image Similarity Challenge 2021.

All (query, reference, score) predictions are pooled across queries and
sorted by score, highest first; precision and recall are computed down that
list with recall's denominator the number of positive queries (each has one
true reference). On equal scores, wrong predictions are ranked first, so a
system cannot gain from ties (ISC2021 ``precision_recall``). The micro
average precision (uAP) is the area under that curve, summed step by step
(ISC2021 ``average_precision``). R@P90 is the best recall at precision >= 0.9
and its score the threshold that reaches it. recall@1 counts positive queries
whose true reference is ranked first, ties counted against (ISC2021
``find_tp_ranks``).

Beyond ISC: alert precision/recall at the product's threshold (``alert``
predictions), per-group and per-transform figures, and the BAM study's
measure: precision@k of "same label" among the references retrieved for a
query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

TARGET_PRECISION = 0.9
NOT_FOUND = 1 << 35


@dataclass(frozen=True)
class Prediction:
    query: str
    reference: str
    score: float
    #: True when the system raised an alert for it (verdict "match")
    alert: bool = False


@dataclass(frozen=True)
class QueryTruth:
    query: str
    #: the reference the query is a copy of; None for a distractor
    reference: str | None
    group: str = ""
    transform: str = ""
    label: str | None = None


def dedupe(predictions: Iterable[Prediction]) -> list[Prediction]:
    """One prediction per (query, reference): the best score; alert if any was one.

    ISC2021 refuses duplicates; a matcher may return a reference twice
    (whole image and crop), which is one claim."""
    best: dict[tuple[str, str], Prediction] = {}
    for p in predictions:
        k = (p.query, p.reference)
        old = best.get(k)
        if old is None:
            best[k] = p
        else:
            best[k] = Prediction(p.query, p.reference, max(p.score, old.score), p.alert or old.alert)
    return list(best.values())


def precision_recall(y_true: np.ndarray, scores: np.ndarray, num_positives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precisions, recalls and thresholds down the pooled, score-sorted predictions."""
    y_true = np.asarray(y_true, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    # ascending by (score, not true), reversed: on ties the wrong ones come first
    order = np.lexsort((~y_true, scores))[::-1]
    y_true, scores = y_true[order], scores[order]
    ntp = np.cumsum(y_true)
    nres = np.arange(len(y_true)) + 1
    precisions = ntp / nres
    recalls = ntp / num_positives if num_positives else np.zeros(len(y_true))
    return precisions, recalls, scores


def average_precision(recalls: np.ndarray, precisions: np.ndarray) -> float:
    """Sum of precision x recall increment (recalls in increasing order)."""
    if len(recalls) == 0:
        return 0.0
    if not np.all(recalls[:-1] <= recalls[1:]):
        raise ValueError("recalls must be sorted in increasing order")
    return float(((recalls - np.concatenate([[0.0], recalls[:-1]])) * precisions).sum())


def operating_point(precisions: np.ndarray, recalls: np.ndarray, thresholds: np.ndarray, required_precision: float = TARGET_PRECISION) -> tuple[float, float | None]:
    """(best recall with precision >= required, score threshold there); (0.0, None) when never reached."""
    ok = precisions >= required_precision
    if not np.any(ok):
        return 0.0, None
    best = int(np.argmax(np.where(ok, recalls, -1.0)))
    return float(recalls[best]), float(thresholds[best])


def true_ranks(truths: Sequence[QueryTruth], predictions: Sequence[Prediction]) -> dict[str, int]:
    """0-based rank of the true reference per positive query; ties rank it last."""
    by_query: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        by_query[p.query].append(p)
    ranks = {}
    for t in truths:
        if t.reference is None:
            continue
        res = by_query.get(t.query, [])
        hit = [p.score for p in res if p.reference == t.reference]
        ranks[t.query] = NOT_FOUND if not hit else sum(1 for p in res if p.score >= hit[0]) - 1
    return ranks


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def isc_metrics(truths: Sequence[QueryTruth], predictions: Sequence[Prediction]) -> dict:
    """uAP, R@P90, threshold at P90, recall@1 and recall@10 of one system."""
    gt = {(t.query, t.reference) for t in truths if t.reference is not None}
    num_positives = len(gt)
    y_true = np.array([(p.query, p.reference) in gt for p in predictions], dtype=bool)
    scores = np.array([p.score for p in predictions], dtype=np.float64)
    p, r, thr = precision_recall(y_true, scores, num_positives)
    rp90, tp90 = operating_point(p, r, thr)
    ranks = np.array(list(true_ranks(truths, predictions).values()), dtype=np.int64)
    return {
        "uAP": average_precision(r, p),
        "R@P90": rp90,
        "threshold_at_p90": tp90,
        "recall@1": float((ranks == 0).mean()) if ranks.size else 0.0,
        "recall@10": float((ranks < 10).mean()) if ranks.size else 0.0,
        "positives": num_positives,
        "predictions": len(predictions),
    }


def alert_metrics(truths: Sequence[QueryTruth], predictions: Sequence[Prediction]) -> dict:
    """Alerts are the predictions with ``alert``: precision over alerts, recall over positive queries."""
    truth = {t.query: t.reference for t in truths}
    alerts = [p for p in predictions if p.alert]
    correct = {p.query for p in alerts if truth.get(p.query) == p.reference}
    positives = sum(1 for t in truths if t.reference is not None)
    wrong = [p for p in alerts if truth.get(p.query) != p.reference]
    return {
        "alert_precision": _ratio(len(alerts) - len(wrong), len(alerts)),
        "alert_recall": _ratio(len(correct), positives),
        "alerts": len(alerts),
        "false_alerts": len(wrong),
        "distractors_alerted": len({p.query for p in wrong if truth.get(p.query) is None}),
    }


def label_precision_at_k(truths: Sequence[QueryTruth], predictions: Sequence[Prediction], reference_labels: Mapping[str, str], k: int = 5) -> dict | None:
    """The BAM study's measure: share of the top-k retrieved references whose label
    equals the query's. The query's own true reference is left out (a copy
    trivially shares its label); queries with no labelled result are skipped."""
    if not reference_labels:
        return None
    by_query: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        by_query[p.query].append(p)
    per_query = []
    for t in truths:
        if not t.label:
            continue
        ranked = sorted(by_query.get(t.query, []), key=lambda p: -p.score)
        top = [p for p in ranked if p.reference != t.reference and p.reference in reference_labels][:k]
        if top:
            per_query.append(sum(reference_labels[p.reference] == t.label for p in top) / len(top))
    return {"k": k, "precision": float(np.mean(per_query)) if per_query else None, "queries": len(per_query)}


def _subset(truths: Sequence[QueryTruth], predictions: Sequence[Prediction], keep) -> tuple[list[QueryTruth], list[Prediction]]:
    sub = [t for t in truths if keep(t)]
    ids = {t.query for t in sub}
    return sub, [p for p in predictions if p.query in ids]


def evaluate_system(
    truths: Sequence[QueryTruth],
    predictions: Iterable[Prediction],
    reference_labels: Mapping[str, str] | None = None,
    label_k: int = 5,
) -> dict:
    """Every metric of one system on one evaluation set."""
    preds = dedupe(predictions)
    out = isc_metrics(truths, preds)
    out.update(alert_metrics(truths, preds))
    ranks = true_ranks(truths, preds)
    distractor = lambda t: t.reference is None  # noqa: E731
    per_group = {}
    for group in sorted({t.group for t in truths if t.reference is not None}):
        # group positives pooled with all distractors: the group's own uAP
        sub_t, sub_p = _subset(truths, preds, lambda t, g=group: t.group == g or distractor(t))
        m = isc_metrics(sub_t, sub_p)
        a = alert_metrics(sub_t, sub_p)
        per_group[group] = {"queries": m["positives"], "uAP": m["uAP"], "recall@1": m["recall@1"], "alert_recall": a["alert_recall"]}
    truth = {t.query: t.reference for t in truths}
    alerted = {p.query for p in preds if p.alert and truth.get(p.query) == p.reference}
    per_transform = {}
    for name in sorted({t.transform for t in truths if t.reference is not None}):
        group_truths = [t for t in truths if t.reference is not None and t.transform == name]
        hits = [ranks[t.query] == 0 for t in group_truths]
        per_transform[name] = {
            "group": group_truths[0].group,
            "queries": len(group_truths),
            "recall@1": float(np.mean(hits)),
            "alert_recall": sum(t.query in alerted for t in group_truths) / len(group_truths),
        }
    out["per_group"] = per_group
    out["per_transform"] = per_transform
    out["label_precision"] = label_precision_at_k(truths, preds, reference_labels or {}, label_k)
    return out
