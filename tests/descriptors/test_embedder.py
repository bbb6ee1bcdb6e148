"""CNN embedders on real images: shapes, batching, versions, near-duplicate behaviour, backbones."""

from __future__ import annotations

import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest

from navee_monitor.descriptors import Embedder, Whitening, build_embedder, ensure_same_version
from navee_monitor.errors import ModelError
from navee_monitor.imaging import load_image
from navee_monitor.settings import ImagingSettings, load_settings
from tests.helpers.shared import art_images, photo_images

LIMITS = ImagingSettings()


@pytest.fixture(scope="module")
def art():
    return [load_image(p, LIMITS, max_side=512) for p in art_images(24)]


def _copy(rgb: np.ndarray) -> np.ndarray:
    """A modified copy: 10 % crop off each side, 70 % size, JPEG quality 60."""
    h, w = rgb.shape[:2]
    crop = rgb[h // 10: h - h // 10, w // 10: w - w // 10]
    small = cv2.resize(crop, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_lite0_embedder_contract(lite0_embedder, art):
    assert isinstance(lite0_embedder, Embedder)
    assert lite0_embedder.dim == 1280
    v = lite0_embedder.embed(art[:3])
    assert v.dtype == np.float32 and v.shape == (3, 1280)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert lite0_embedder.embed([]).shape == (0, 1280)
    version = lite0_embedder.model_version
    assert version.startswith("efficientnet_lite0-") and version.endswith("-sq224-gem3")


def test_batches_give_the_same_vectors(lite0_embedder, art):
    together = lite0_embedder.embed(art[:5])
    alone = np.concatenate([lite0_embedder.embed([im]) for im in art[:5]])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    old = lite0_embedder.batch_size
    try:
        lite0_embedder.batch_size = 2  # 5 images -> batches of 2, 2, 1
        np.testing.assert_allclose(lite0_embedder.embed(art[:5]), together, atol=1e-4)
    finally:
        lite0_embedder.batch_size = old


def test_modified_copies_find_their_original(lite0_embedder, art):
    refs = lite0_embedder.embed(art)
    copies = lite0_embedder.embed([_copy(im) for im in art])
    sims = copies @ refs.T
    assert (sims.argmax(axis=1) == np.arange(len(art))).mean() >= 0.95
    distractors = lite0_embedder.embed([load_image(p, LIMITS, max_side=512) for p in photo_images(8)])
    assert np.diag(sims).mean() > (distractors @ refs.T).max(axis=1).mean() + 0.1


def test_whitened_real_descriptors(lite0_embedder, art):
    raw = lite0_embedder.embed(art)
    w = Whitening.fit(raw, 256, source_model_version=lite0_embedder.model_version)
    assert w.out_dim == len(art) - 1  # small collection: n - 1 components
    white = w.apply(lite0_embedder.embed([_copy(im) for im in art]))
    assert (white @ w.apply(raw).T).argmax(axis=1).tolist() == list(range(len(art)))


def test_conversion_is_cached(models_settings, lite0_embedder):
    cached = list(models_settings.path("models").glob("efficientnet_lite0-*.npz"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    again = build_embedder(models_settings)
    assert again.model_version == lite0_embedder.model_version
    assert cached[0].stat().st_mtime_ns == mtime


def test_pooling_changes_the_version(models_settings, lite0_embedder, art):
    avg = build_embedder(models_settings.model_copy(
        update={"embedding": models_settings.embedding.model_copy(update={"pooling": "avg"})}))
    assert avg.model_version != lite0_embedder.model_version and avg.model_version.endswith("-avg")
    with pytest.raises(ModelError, match="cannot be compared"):
        ensure_same_version(avg.model_version, lite0_embedder.model_version)
    assert not np.allclose(avg.embed(art[:1]), lite0_embedder.embed(art[:1]), atol=1e-3)


def test_resnet50_with_a_local_weights_file(tmp_path, art):
    from navee_monitor.descriptors.embedder import build_backbone_embedder

    settings = load_settings(None, environ={}, use_default_file=False, overrides={
        "data_dir": str(tmp_path), "embedding": {"backbone": "resnet50", "weights": "none", "batch_size": 2}})
    random_weights = build_backbone_embedder(settings.embedding, tmp_path / "models", weights=None)
    path = tmp_path / "resnet50_notop.weights.h5"
    random_weights.model.save_weights(str(path))
    # Keras runtime: converting ResNet-50 to TFLite would add half a minute and 100 MB to this test
    settings = load_settings(None, environ={}, use_default_file=False, overrides={
        "data_dir": str(tmp_path), "embedding": {"backbone": "resnet50", "weights": str(path), "batch_size": 2,
                                                 "runtime": "keras"}})
    loaded = build_embedder(settings)
    assert loaded.dim == 2048 and loaded.model_version.startswith("resnet50-")
    assert loaded.model_version == random_weights.model_version  # same weights, same version
    np.testing.assert_allclose(loaded.embed(art[:3]), random_weights.embed(art[:3]), atol=1e-4)


def test_bad_backbone_and_weights_are_model_errors(tmp_path):
    def settings(**emb):
        return load_settings(None, environ={}, use_default_file=False,
                             overrides={"data_dir": str(tmp_path), "embedding": emb})

    with pytest.raises(ModelError, match="unknown backbone 'vgg99'"):
        build_embedder(settings(backbone="vgg99"))
    with pytest.raises(ModelError, match="does not exist"):
        build_embedder(settings(backbone="resnet50", weights=str(tmp_path / "missing.h5")))
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not weights")
    with pytest.raises(ModelError, match="cannot load weights file"):
        build_embedder(settings(backbone="resnet50", weights=str(junk)))


def _internet_reachable() -> bool:
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


def test_imagenet_weights_offline_say_what_to_do(tmp_path):
    if _internet_reachable():
        pytest.skip("the internet is reachable here: the offline message cannot be observed")
    settings = load_settings(None, environ={}, use_default_file=False,
                             overrides={"data_dir": str(tmp_path), "embedding": {"backbone": "resnet50"}})
    with pytest.raises(ModelError, match="embedding.weights: /path"):
        build_embedder(settings)


def test_importing_imaging_and_descriptors_does_not_load_tensorflow():
    code = ("import sys, navee_monitor.imaging, navee_monitor.descriptors; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
