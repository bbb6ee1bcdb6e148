"""Hash tables, multi-probe order and ITQ learning."""

from __future__ import annotations

import numpy as np

from navee_monitor.index import ITQIndex, LSHIndex
from navee_monitor.index.hashing import CodeTables, encode, probe_codes
from navee_monitor.index.itq import ITQModel, learn_rotation, quantization_error, random_rotation
from tests.index.conftest import MODEL, clustered, near_copies


def test_probes_start_home_then_flip_the_least_confident_bits():
    z = np.array([[[0.9, -0.05, 0.4, -0.7]]], dtype=np.float32)  # (Q=1, L=1, K=4)
    codes = probe_codes(z, probes=3, dtype=np.dtype(np.uint32))[0, 0]
    home = int(encode(z, np.dtype(np.uint32))[0, 0])
    assert home == 0b0101
    assert int(codes[0]) == home
    assert int(codes[1]) == home ^ 0b0010  # bit 1 (|z| = 0.05) first
    assert int(codes[2]) == home ^ 0b0100  # then bit 2 (0.4)
    assert int(codes[3]) == home ^ 0b0110  # then both (0.05^2 + 0.4^2 < 0.7^2)
    assert len(set(codes.tolist())) == 4


def test_pending_run_and_merged_run_find_the_same_rows():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 64, size=(5000, 3)).astype(np.uint32)
    rows = np.arange(5000)
    at_once, piecewise = CodeTables(3, np.uint32), CodeTables(3, np.uint32)
    at_once.insert(codes, rows)
    at_once.flush()
    for start in range(0, 5000, 37):
        piecewise.insert(codes[start : start + 37], rows[start : start + 37])
    probes = rng.integers(0, 64, size=(4, 3, 5)).astype(np.uint32)
    for table in (at_once, piecewise):
        q, r = table.lookup(probes)
        expected = {(qi, int(row)) for qi in range(4) for t in range(3) for row in np.flatnonzero(np.isin(codes[:, t], probes[qi, t]))}
        assert set(zip(q.tolist(), r.tolist(), strict=True)) == expected


def test_itq_rotation_lowers_quantization_error_below_a_random_rotation():
    x = clustered(4000, dim=64)
    x = x - x.mean(axis=0)
    _, vecs = np.linalg.eigh(x.T @ x)
    v = x @ vecs[:, ::-1][:, :16]
    v /= np.sqrt((v**2).mean())  # unit scale, so that +-1 codes are comparable with V R
    rng = np.random.default_rng(3)
    random_error = np.mean([quantization_error(v, random_rotation(16, rng)) for _ in range(5)])
    learned_error = quantization_error(v, learn_rotation(v, np.random.default_rng(4)))
    assert learned_error < 0.9 * random_error


def test_itq_hashing_finds_more_neighbours_than_random_hyperplanes_with_the_same_budget():
    data = clustered(4000, dim=64, seed=5)
    keys = [str(i) for i in range(len(data))]
    queries = near_copies(data[::40], noise=0.6)
    truth = (queries @ data.T).argsort(axis=1)[:, ::-1][:, :10]

    def recall(index):
        index.add(keys, data)
        found = index.query_batch(queries, 10)
        return np.mean([len({int(k) for k, _ in f} & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])

    itq = ITQIndex(MODEL, 64, bits=10, tables=2, probes=0, min_train=100)
    lsh = LSHIndex(MODEL, 64, bits=10, tables=2, probes=0)
    assert recall(itq) > recall(lsh)


def test_itq_answers_exactly_until_it_has_enough_vectors_then_learns(data):
    keys, vectors = data
    index = ITQIndex(MODEL, 32, bits=8, tables=4, probes=8, min_train=500)
    index.add(keys[:400], vectors[:400])
    assert not index.hasher_ready
    assert index.query(vectors[3], 1)[0][0] == "ref-3"
    index.add(keys[400:600], vectors[400:600])
    assert index.hasher_ready and index.tables.size == 600
    assert index.query(vectors[450], 1)[0][0] == "ref-450"
    model = ITQModel.learn(vectors, bits=8, tables=3)
    assert model.projection.shape == (32, 24)
