"""The seeded set builder on the real shared images."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from navee_monitor.errors import UsageError
from navee_monitor.evaluation.dataset import build_evaluation_set, read_manifest
from navee_monitor.evaluation.transforms import GROUPS
from tests.helpers.shared import shared_path


def _build(seed=0, references=12, positives=30, distractors=10):
    return build_evaluation_set(shared_path("data"), references=references, positives=positives,
                                distractors=distractors, seed=seed)


def test_same_seed_same_set_other_seed_other_set():
    a, b, c = _build(0), _build(0), _build(1)
    assert a.references == b.references and a.queries == b.queries
    assert [r.key for r in a.references] != [r.key for r in c.references]


def test_structure_and_ground_truth():
    s = _build()
    keys = {r.key for r in s.references}
    assert len(keys) == 12 and all(r.kind == "art" for r in s.references)
    positives = s.positives
    distractors = [q for q in s.queries if not q.positive]
    assert len(positives) == 30 and len(distractors) == 10
    assert all(q.truth in keys and q.source.stem == q.truth for q in positives)
    assert not {q.source for q in distractors} & {r.path for r in s.references}
    kinds = Counter("photo" if "/photo/" in str(q.source) else "art" for q in distractors)
    assert kinds == {"art": 5, "photo": 5}
    # groups balanced, every reference used, transforms of each group taken in turn
    assert Counter(q.group for q in positives) == {g: 10 for g in GROUPS}
    assert {q.truth for q in positives} == keys
    per_group = Counter(spec.group for spec in s.suite.values())
    assert len({q.transform for q in positives}) == sum(min(10, per_group[g]) for g in GROUPS)
    assert len({q.qid for q in s.queries}) == len(s.queries)
    assert all(s.suite[q.transform].group == q.group for q in positives)
    # labels come from the manifest's medium_guess
    assert set(s.reference_labels) == keys


def test_render_is_reproducible():
    s = _build(references=4, positives=6, distractors=2)
    for q in s.queries[:4]:
        a, b = s.render(q), s.render(q)
        assert np.array_equal(a, b) and a.dtype == np.uint8 and a.shape[2] == 3


def test_bad_data_folders(tmp_path):
    with pytest.raises(UsageError, match="MANIFEST.csv"):
        build_evaluation_set(tmp_path, references=1, positives=1, distractors=1)
    with open(tmp_path / "MANIFEST.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "kind"], ["missing.jpg", "art"]])
    assert read_manifest(tmp_path) == []
    with pytest.raises(UsageError, match="cannot draw 1 references"):
        build_evaluation_set(tmp_path, references=1, positives=1, distractors=1)
