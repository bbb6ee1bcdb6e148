"""The losses against values computed by hand (and a brute-force reference for the mining)."""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from navee_monitor.training import losses  # noqa: E402


def test_pairwise_distances():
    d = losses.pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]], np.float32)).numpy()
    np.testing.assert_allclose(d, [[0, 5, 0], [5, 0, 5], [0, 5, 0]], atol=1e-5)


def test_triplet_semihard_by_hand():
    # points on a line: 0 and 1 are class 0, 0.5 and 3 class 1 (worked out in the comments)
    emb = np.array([[0.0], [1.0], [0.5], [3.0]], np.float32)
    labels = np.array([0, 0, 1, 1])
    # (0,1): d_ap 1, negatives 0.5, 3 -> semi-hard 3 -> 0
    # (1,0): d_ap 1, negatives 0.5, 2 -> semi-hard 2 -> 0
    # (2,3): d_ap 2.5, negatives 0.5, 0.5 -> none farther: farthest 0.5 -> 2.5 - 0.5 + 0.2 = 2.2
    # (3,2): d_ap 2.5, negatives 3, 2 -> semi-hard 3 -> 0
    value = float(losses.triplet_semihard(labels, emb, margin=0.2))
    assert value == pytest.approx(2.2 / 4, abs=1e-5)


def _brute_force(labels, emb, margin):
    d = np.sqrt(((emb[:, None] - emb[None]) ** 2).sum(-1))
    total, count = 0.0, 0
    for a in range(len(emb)):
        negs = [n for n in range(len(emb)) if labels[n] != labels[a]]
        if not negs:
            continue
        for p in range(len(emb)):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [d[a, n] for n in negs if d[a, n] > d[a, p]]
            dn = min(farther) if farther else max(d[a, n] for n in negs)
            total += max(d[a, p] - dn + margin, 0.0)
            count += 1
    return total / max(count, 1)


def test_triplet_semihard_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(5):
        emb = rng.normal(size=(12, 4)).astype(np.float32)
        labels = rng.integers(0, 3, 12)
        got = float(losses.triplet_semihard(labels, emb, margin=0.5))
        assert got == pytest.approx(_brute_force(labels, emb, 0.5), rel=1e-4, abs=1e-5)


def test_triplet_without_positive_pairs_is_zero_and_has_gradients():
    emb = tf.Variable(np.eye(3, dtype=np.float32))
    with tf.GradientTape() as tape:
        value = losses.triplet_semihard(np.array([0, 1, 2]), emb)
    assert float(value) == 0.0
    emb2 = tf.Variable(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], np.float32))
    with tf.GradientTape() as tape:
        value = losses.triplet_semihard(np.array([0, 0, 1]), emb2)
    grad = tape.gradient(value, emb2).numpy()
    assert np.all(np.isfinite(grad))  # identical rows do not give NaN through the square root


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_nt_xent_by_hand(temperature):
    a = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    # every view: positive similarity 1, two negatives with similarity 0
    expected = math.log(1 + 2 * math.exp(-1 / temperature))
    assert float(losses.nt_xent(a, a.copy(), temperature)) == pytest.approx(expected, rel=1e-5)


def test_nt_xent_prefers_matching_views_and_normalises():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 8)).astype(np.float32)
    aligned = float(losses.nt_xent(a, 3 * a, 0.1))  # scale does not matter: cosine
    shuffled = float(losses.nt_xent(a, a[::-1].copy(), 0.1))
    assert aligned < shuffled
    keras_loss = losses.ssl_loss(0.1)(None, tf.constant(np.concatenate([a, 3 * a])))
    assert float(keras_loss) == pytest.approx(aligned, rel=1e-5)


def test_koleo_by_hand_and_in_the_ssl_loss():
    square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32)
    # every point's nearest neighbour is sqrt(2) away
    assert float(losses.koleo(square)) == pytest.approx(-math.log(math.sqrt(2)), rel=1e-4)
    crowded = np.array([[1.0, 0.0], [0.99, 0.14], [-1.0, 0.0], [0.0, -1.0]], np.float32)
    assert float(losses.koleo(crowded)) > float(losses.koleo(square))  # close neighbours cost more
    y = tf.constant(np.concatenate([square, square]))
    plain = float(losses.ssl_loss(0.5)(None, y))
    with_koleo = float(losses.ssl_loss(0.5, koleo_weight=2.0)(None, y))
    assert with_koleo == pytest.approx(plain + 2.0 * -math.log(math.sqrt(2)), rel=1e-4)
