"""PCA-whitening and model-version checks."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.descriptors import Whitening, ensure_same_version
from navee_monitor.descriptors.whitening import l2_normalise
from navee_monitor.errors import ModelError


def _vectors(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # anisotropic data: a few dominant directions, like CNN descriptors
    scales = np.geomspace(10, 0.1, d)
    return l2_normalise(rng.normal(size=(n, d)) * scales + 3.0)


def test_fit_apply_shapes_and_decorrelation():
    x = _vectors(500)
    w = Whitening.fit(x, 16, shrinkage=0.0)
    assert (w.in_dim, w.out_dim) == (64, 16)
    y = (x - w.mean) @ w.projection
    cov = np.cov(y, rowvar=False)
    np.testing.assert_allclose(cov, np.eye(16), atol=0.02)  # whitened: identity covariance
    out = w.apply(x[:10])
    assert out.dtype == np.float32 and out.shape == (10, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_small_collection_uses_n_minus_1_components_and_stays_finite():
    x = _vectors(5)
    w = Whitening.fit(x, 256)
    assert w.out_dim == 4
    out = w.apply(_vectors(3, seed=1))
    assert np.isfinite(out).all()
    with pytest.raises(ModelError, match="at least 2"):
        Whitening.fit(x[:1], 256)


def test_whitening_keeps_near_duplicates_closest():
    x = _vectors(300)
    w = Whitening.fit(x, 32)
    noisy = l2_normalise(x[:50] + np.random.default_rng(2).normal(scale=0.01, size=(50, 64)))
    sims = w.apply(noisy) @ w.apply(x).T
    assert (sims.argmax(axis=1) == np.arange(50)).all()


def test_save_load_roundtrip_and_version(tmp_path):
    w = Whitening.fit(_vectors(100), 8, source_model_version="m1")
    path = w.save(tmp_path / "index" / "whitening.npz")
    loaded = Whitening.load(path)
    assert loaded.version == w.version and loaded.source_model_version == "m1"
    assert w.version.startswith("pcaw8-")
    np.testing.assert_array_equal(loaded.apply(_vectors(3)), w.apply(_vectors(3)))
    assert Whitening.fit(_vectors(100, seed=5), 8).version != w.version
    path.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="rebuild"):
        Whitening.load(path)
    with pytest.raises(ModelError, match="does not exist"):
        Whitening.load(tmp_path / "missing.npz")


def test_dimension_mismatch_is_a_model_error():
    w = Whitening.fit(_vectors(50), 8)
    with pytest.raises(ModelError, match="expects 64-dimensional"):
        w.apply(np.ones((2, 32), np.float32))


def test_ensure_same_version():
    ensure_same_version("a", "a")
    with pytest.raises(ModelError, match="descriptors of model a cannot be compared with model b: run `navee-monitor index rebuild`"):
        ensure_same_version("a", "b")
