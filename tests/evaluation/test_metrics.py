"""Metrics against values computed by hand, and against the ISC2021 reference algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.evaluation.metrics import (
    Prediction,
    QueryTruth,
    average_precision,
    dedupe,
    evaluate_system,
    precision_recall,
)

TRUTHS = [
    QueryTruth("q1", "A", "mild", "blur", "oil"),
    QueryTruth("q2", "B", "mild", "crop_mild", "comics"),
    QueryTruth("q3", "C", "hard", "mockup", None),
    QueryTruth("d1", None, "distractor", "blur", "comics"),
]
PREDICTIONS = [
    Prediction("q1", "A", 0.9, alert=True),
    Prediction("q1", "B", 0.5),
    Prediction("q2", "A", 0.8, alert=True),
    Prediction("q2", "B", 0.7),
    Prediction("d1", "C", 0.6, alert=True),
]
LABELS = {"A": "oil", "B": "oil", "C": "comics"}


def test_hand_computed_set():
    # pooled, by score: q1A ok, q2A wrong, q2B ok, d1C wrong, q1B wrong; 3 positives
    # precision 1, 1/2, 2/3, 1/2, 2/5; recall 1/3, 1/3, 2/3, 2/3, 2/3
    m = evaluate_system(TRUTHS, PREDICTIONS, LABELS, label_k=5)
    assert m["uAP"] == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)  # 5/9
    assert m["R@P90"] == pytest.approx(1 / 3)
    assert m["threshold_at_p90"] == pytest.approx(0.9)
    # q1 first; q2's B is behind A; q3 has nothing
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["alert_precision"] == pytest.approx(1 / 3)
    assert m["alert_recall"] == pytest.approx(1 / 3)
    assert (m["alerts"], m["false_alerts"], m["distractors_alerted"]) == (3, 2, 1)
    # mild positives (q1, q2) pooled with the distractor: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    assert m["per_group"]["mild"]["uAP"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert m["per_group"]["mild"]["recall@1"] == pytest.approx(0.5)
    assert m["per_group"]["mild"]["queries"] == 2
    assert m["per_group"]["hard"] == {"queries": 1, "uAP": 0.0, "recall@1": 0.0, "alert_recall": 0.0}
    assert m["per_transform"]["blur"] == {"group": "mild", "queries": 1, "recall@1": 1.0, "alert_recall": 1.0}
    assert m["per_transform"]["crop_mild"]["recall@1"] == 0.0
    assert "distractor" not in m["per_group"]
    # same label among retrieved references, own reference left out:
    # q1 (oil) -> [B oil] 1; q2 (comics) -> [A oil] 0; d1 (comics) -> [C comics] 1
    assert m["label_precision"] == {"k": 5, "precision": pytest.approx(2 / 3), "queries": 3}


def test_ties_count_against_the_system():
    truths = [QueryTruth("q1", "A"), QueryTruth("d1", None)]
    preds = [Prediction("q1", "A", 0.5), Prediction("d1", "A", 0.5)]
    m = evaluate_system(truths, preds)
    assert m["uAP"] == pytest.approx(0.5)  # the wrong one is ranked first on the tie
    assert m["R@P90"] == 0.0 and m["threshold_at_p90"] is None
    # within a query, a tie with a wrong reference is not rank 1 either
    m = evaluate_system([QueryTruth("q1", "A")], [Prediction("q1", "B", 0.5), Prediction("q1", "A", 0.5)])
    assert m["recall@1"] == 0.0 and m["recall@10"] == 1.0


def test_no_predictions_and_no_alerts():
    m = evaluate_system(TRUTHS, [])
    assert m["uAP"] == 0.0 and m["R@P90"] == 0.0 and m["recall@1"] == 0.0
    assert m["alert_precision"] is None and m["alert_recall"] == 0.0
    assert m["label_precision"] is None


def test_duplicates_keep_the_best_score():
    preds = dedupe([Prediction("q1", "A", 0.4, True), Prediction("q1", "A", 0.9), Prediction("q1", "B", 0.3)])
    assert sorted((p.reference, p.score, p.alert) for p in preds) == [("A", 0.9, True), ("B", 0.3, False)]


def _isc_reference(y_true, scores, num_positives):
    """The ISC2021 code path (python sorted on (score, not true), reversed), re-typed for comparison."""
    order = sorted(range(len(scores)), key=list(zip(scores, ~y_true)).__getitem__)[::-1]
    y = y_true[order]
    ntp = np.cumsum(y)
    p = ntp / (np.arange(len(y)) + 1)
    r = ntp / num_positives
    return ((r - np.concatenate([[0], r[:-1]])) * p).sum()


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_the_isc2021_algorithm(seed):
    rng = np.random.default_rng(seed)
    n = 200
    y_true = rng.random(n) < 0.3
    scores = np.round(rng.random(n) + y_true * 0.3, 2)  # rounding makes ties
    num_positives = int(y_true.sum()) + 7  # some positives never retrieved
    p, r, _ = precision_recall(y_true, scores, num_positives)
    assert average_precision(r, p) == pytest.approx(_isc_reference(y_true, scores, num_positives))


def test_perfect_system():
    truths = [QueryTruth(f"q{i}", f"R{i}") for i in range(4)] + [QueryTruth("d", None)]
    preds = [Prediction(f"q{i}", f"R{i}", 0.9 - i * 0.01, True) for i in range(4)] + [Prediction("d", "R0", 0.1)]
    m = evaluate_system(truths, preds)
    assert m["uAP"] == pytest.approx(1.0) and m["R@P90"] == 1.0 and m["recall@1"] == 1.0
    assert m["threshold_at_p90"] == pytest.approx(0.87)
    assert m["alert_precision"] == 1.0 and m["alert_recall"] == 1.0
