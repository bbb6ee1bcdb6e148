"""The VectorIndex contract, run against every implementation (exact, lsh, itq, faiss)."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.errors import IndexError_
from navee_monitor.index import VectorIndex, index_from_vectors
from tests.index.conftest import DIM, KINDS, MODEL, near_copies, unit


def brute_force(vectors: np.ndarray, keys: list[str], queries: np.ndarray, k: int) -> list[list[str]]:
    scores = queries @ vectors.T
    return [[keys[i] for i in np.argsort(-row, kind="stable")[:k]] for row in scores]


def recall(truth: list[list[str]], found: list[list[tuple[str, float]]]) -> float:
    return float(np.mean([len(set(t) & {key for key, _ in f}) / len(t) for t, f in zip(truth, found, strict=True)]))


def test_satisfies_the_protocol(filled):
    assert isinstance(filled, VectorIndex)
    assert filled.model_version == MODEL and filled.dim == DIM
    assert len(filled) == 3000


def test_top_matches_agree_with_brute_force(filled, data, kind):
    keys, vectors = data
    queries = near_copies(vectors[::30])
    truth = brute_force(vectors, keys, queries, 10)
    found = filled.query_batch(queries, 10)
    # float16 storage may swap near-ties, so even the exact index is held to 0.98
    assert recall(truth, found) >= (0.98 if kind == "exact" else 0.9)
    # a near copy finds its original first, whatever the implementation
    assert [f[0][0] for f in found] == [keys[i] for i in range(0, 3000, 30)]


def test_results_are_exact_cosines_sorted_highest_first(filled, data):
    keys, vectors = data
    query = near_copies(vectors[5:6])[0]
    result = filled.query(query, 10)
    assert len(result) == 10
    scores = [s for _, s in result]
    assert scores == sorted(scores, reverse=True)
    for key, score in result:
        assert score == pytest.approx(float(vectors[keys.index(key)] @ query), abs=2e-3)


def test_query_and_query_batch_agree(filled, data):
    _, vectors = data
    queries = near_copies(vectors[100:105])
    batch = filled.query_batch(queries, 5)
    for q, expected in zip(queries, batch, strict=True):
        assert [k for k, _ in filled.query(q, 5)] == [k for k, _ in expected]


def test_adding_an_existing_key_replaces_its_vector(filled, data):
    keys, vectors = data
    target = vectors[2000]  # ref-7 moves onto ref-2000's place
    filled.add(["ref-7"], target[None, :])
    assert len(filled) == 3000
    hits = dict(filled.query(target, 3))
    assert hits["ref-7"] == pytest.approx(1.0, abs=1e-3)
    assert "ref-7" not in dict(filled.query(vectors[7], 3)) or dict(filled.query(vectors[7], 3))["ref-7"] < 0.99


def test_duplicate_keys_in_one_call_keep_the_last(make_index, data):
    _, vectors = data
    index = make_index()
    index.add(["a", "b", "a"], vectors[:3])
    assert len(index) == 2
    assert index.query(vectors[2], 1)[0] == ("a", pytest.approx(1.0, abs=1e-3))


def test_removed_keys_are_never_returned(filled, data):
    keys, vectors = data
    gone = keys[:50]
    assert filled.remove(gone + ["no-such-key"]) == 50
    assert filled.remove(gone) == 0
    assert len(filled) == 2950
    for result in filled.query_batch(vectors[:50], 10):
        assert not {k for k, _ in result} & set(gone)
        assert len(result) == 10


def test_k_larger_than_the_index_and_empty_index(make_index, data):
    keys, vectors = data
    index = make_index()
    assert index.query(vectors[0], 5) == []
    index.add(keys[:3], vectors[:3])
    assert [k for k, _ in index.query(vectors[0], 10)][0] == "ref-0"
    assert len(index.query(vectors[0], 10)) == 3
    assert index.query_batch(vectors[:2], 0) == [[], []]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((1, DIM)), np.ones((1, DIM + 1)), np.full((1, DIM), np.nan)],
    ids=["zero", "wrong-dim", "nan"],
)
def test_bad_vectors_are_refused(make_index, bad):
    index = make_index()
    with pytest.raises(IndexError_):
        index.add(["x"], bad)
    index.add(["ok"], unit(np.ones((1, DIM))))
    with pytest.raises(IndexError_):
        index.query_batch(bad, 3)


def test_bad_keys_are_refused(make_index, data):
    _, vectors = data
    index = make_index()
    with pytest.raises(IndexError_, match="key"):
        index.add(["a\0b"], vectors[:1])
    with pytest.raises(IndexError_, match="keys for"):
        index.add(["a", "b"], vectors[:1])


def test_index_from_vectors_is_one_call(kind, data):
    keys, vectors = data
    index = index_from_vectors(KINDS[kind], MODEL, keys[:500], vectors[:500])
    assert len(index) == 500 and index.kind == KINDS[kind].kind
    assert index.query(vectors[10], 1)[0][0] == "ref-10"
