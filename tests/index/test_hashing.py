"""Hash tables, multi-probe order and ITQ learning."""

from __future__ import annotations

import numpy as np

from navee_monitor.index import ITQIndex, LSHIndex
from navee_monitor.index.hashing import (
    CodeTables,
    PackedCodes,
    encode,
    hamming_knn,
    pack_codes,
    popcount_distance,
    probe_codes,
)
from navee_monitor.index.itq import (
    ITQModel,
    learn_rotation,
    quantization_error,
    random_rotation,
)
from navee_monitor.index.lsh import random_hyperplanes
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


def recall_on_clustered_data():
    """(recall, data, keys, queries): recall(index) fills ``index`` with 4000 clustered 64-d
    vectors and gives its recall@10 on near copies of every 40th."""
    data = clustered(4000, dim=64, seed=5)
    keys = [str(i) for i in range(len(data))]
    queries = near_copies(data[::40], noise=0.6)
    truth = (queries @ data.T).argsort(axis=1)[:, ::-1][:, :10]

    def recall(index):
        index.add(keys, data)
        found = index.query_batch(queries, 10)
        return np.mean([len({int(k) for k, _ in f} & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])

    return recall, data, keys, queries


def test_itq_hashing_finds_more_neighbours_than_random_hyperplanes_with_the_same_budget():
    recall, *_ = recall_on_clustered_data()

    itq = ITQIndex(MODEL, 64, bits=10, tables=2, probes=0, min_train=100, search="buckets", candidates=0)
    lsh = LSHIndex(MODEL, 64, bits=10, tables=2, probes=0, search="buckets", candidates=0)
    assert recall(itq) > recall(lsh)


def test_itq_answers_exactly_until_it_has_enough_vectors_then_learns(data):
    keys, vectors = data
    index = ITQIndex(MODEL, 32, bits=8, tables=4, probes=8, min_train=500, search="buckets")
    index.add(keys[:400], vectors[:400])
    assert not index.hasher_ready
    assert index.query(vectors[3], 1)[0][0] == "ref-3"
    index.add(keys[400:600], vectors[400:600])
    assert index.hasher_ready and index.tables.size == 600
    assert index.query(vectors[450], 1)[0][0] == "ref-450"
    model = ITQModel.learn(vectors, bits=8, tables=3)
    assert model.projection.shape == (32, 24)


def test_packed_codes_and_popcount_distance_match_a_bit_by_bit_count():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 100)).astype(np.float32)  # 100 bits -> 16 bytes, padded
    codes = pack_codes(z)
    assert codes.shape == (50, 16) and codes.dtype == np.uint8
    assert int(codes[0, 0]) & 1 == int(z[0, 0] > 0)  # bit b of the code is projection b
    assert not codes[:, 13:].any()  # padding
    expected = ((z > 0) != (z[7] > 0)).sum(axis=1)
    assert popcount_distance(codes, codes[7]).tolist() == expected.tolist()
    store = PackedCodes(100)
    assert store.load_base(codes[:20])  # as after a load: mapped base + tail
    store.append(codes[20:])
    assert len(store) == 50
    assert (store.take(np.array([3, 25, 49])) == codes[[3, 25, 49]]).all()
    alive = np.ones(50, dtype=bool)
    alive[[7, 30]] = False
    assert (store.compacted(alive) == codes[alive]).all()
    # the nearest codes of row 7, across base and tail, dead rows left out
    ranked = np.lexsort((np.arange(50), expected))
    assert store.nearest(codes[7:8], 10)[0].tolist() == sorted(ranked[:10].tolist())
    live_ranked = [r for r in ranked if alive[r]]
    assert store.nearest(codes[7:8], 10, alive)[0].tolist() == sorted(live_ranked[:10])
    assert store.nearest(codes[7:8], 99, alive)[0].tolist() == np.flatnonzero(alive).tolist()


def test_packed_codes_read_the_word_major_layout_of_older_index_files():
    rng = np.random.default_rng(1)
    codes = pack_codes(rng.standard_normal((30, 256)))
    old_layout = np.ascontiguousarray(codes.view("<u8").T)  # (4, 30) uint64, as saved before
    store = PackedCodes(256)
    assert store.load_base(old_layout)
    assert (store.base == codes).all()
    assert not PackedCodes(512).load_base(old_layout)  # another code length: refused


def test_hamming_knn_takes_the_smallest_distances_lowest_rows_first_on_ties():
    # codes whose distance to the all-zero query is the number of set bits
    ones = np.array([5, 1, 3, 3, 9, 0, 3])
    codes = pack_codes(np.arange(64)[None, :] < ones[:, None])
    query = np.zeros((1, 8), dtype=np.uint8)
    for count, rows in ((2, [5, 1]), (3, [5, 1, 2]), (5, [5, 1, 2, 3, 6])):
        distances, found = hamming_knn(query, codes, count)
        assert found[0].tolist() == rows and distances[0].tolist() == ones[rows].tolist()
    assert sorted(hamming_knn(query, codes, 99)[1][0].tolist()) == list(range(7))


def test_random_hyperplanes_are_orthogonal_within_each_block():
    planes = random_hyperplanes(32, 80, seed=1)
    assert planes.shape == (32, 80)
    for start in (0, 32):
        block = planes[:, start : start + 32]
        assert np.allclose(block.T @ block, np.eye(32), atol=1e-5)
    assert not np.allclose(planes[:, :16], planes[:, 32:48])


def test_hamming_ranking_beats_fewer_candidates_and_caps_bucket_candidates():
    recall, data, keys, queries = recall_on_clustered_data()

    few = recall(LSHIndex(MODEL, 64, bits=4, tables=2, candidates=10))  # 8 bits: a coarse ranking
    many = recall(LSHIndex(MODEL, 64, bits=16, tables=8, candidates=400))
    assert many > few and many >= 0.9
    capped = LSHIndex(MODEL, 64, bits=8, tables=10, probes=16, search="buckets", candidates=50)
    capped.add(keys, data)
    words = pack_codes(capped.project(queries[:4]).reshape(4, -1))
    qids, rows = capped.tables.lookup(probe_codes(capped.project(queries[:4]), 16, capped.tables.dtype))
    kept_q, kept_r = capped._cap(qids, rows, words)
    for q in range(4):
        mine = kept_r[kept_q == q]
        assert len(mine) == 50 < len(np.unique(rows[qids == q]))
        # the kept rows are the bucket rows nearest in Hamming distance
        all_rows = np.unique(rows[qids == q])
        d_all = np.sort(popcount_distance(capped.codes.take(all_rows), words[q]))
        assert popcount_distance(capped.codes.take(mine), words[q]).max() <= d_all[49]


def test_joint_itq_learns_one_orthonormal_code_without_repeated_directions():
    data = clustered(3000, dim=32, seed=2)
    model = ITQModel.learn_joint(data, n_bits=48)
    assert model.projection.shape == (32, 48)
    first = model.projection[:, :32]  # PCA basis x rotation: orthonormal
    assert np.allclose(first.T @ first, np.eye(32), atol=1e-3)
    index = ITQIndex(MODEL, 32, bits=8, tables=6, min_train=100, candidates=200)
    index.add([str(i) for i in range(3000)], data)
    assert index.hasher_ready and len(index.codes) == 3000
    assert index.query(data[123], 1)[0][0] == "123"
