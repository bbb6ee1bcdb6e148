"""The TFLite runtime gives the Keras embedder's descriptors, converted once and cached."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from navee_monitor.descriptors import build_embedder
from navee_monitor.imaging import load_image
from navee_monitor.settings import ImagingSettings
from tests.helpers.shared import art_images, photo_images


@pytest.fixture(scope="module")
def images():
    return [load_image(p, ImagingSettings(), max_side=512) for p in art_images(12) + photo_images(4)]


def _with_runtime(settings, runtime: str, **embedding):
    return settings.model_copy(update={"embedding": settings.embedding.model_copy(
        update={"runtime": runtime, **embedding})})


@pytest.fixture(scope="module")
def keras_embedder(models_settings):
    return build_embedder(_with_runtime(models_settings, "keras"))


def test_tflite_is_the_default_and_gives_the_keras_descriptors(lite0_embedder, keras_embedder, images):
    from navee_monitor.descriptors.embedder import KerasEmbedder
    from navee_monitor.descriptors.tflite_runtime import TfliteEmbedder

    assert isinstance(lite0_embedder, TfliteEmbedder) and isinstance(keras_embedder, KerasEmbedder)
    assert lite0_embedder.model_version == keras_embedder.model_version  # stored descriptors stay valid
    assert lite0_embedder.dim == keras_embedder.dim == 1280
    fast, reference = lite0_embedder.embed(images), keras_embedder.embed(images)
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    assert np.abs(fast - reference).max() < 1e-5


def test_tflite_vectors_do_not_depend_on_the_batch(lite0_embedder, images):
    together = lite0_embedder.embed(images[:5])
    alone = np.concatenate([lite0_embedder.embed([im]) for im in images[:5]])
    # bit for bit: the matcher may embed a crop in any batch and still give the same result
    assert np.array_equal(together, alone)


def test_conversion_is_cached_by_model_version(models_settings, lite0_embedder, images):
    from navee_monitor.descriptors.tflite_runtime import cached_model_path

    path = cached_model_path(models_settings.path("models"), lite0_embedder.model_version)
    assert path.is_file()
    mtime = path.stat().st_mtime_ns
    again = build_embedder(models_settings)
    assert again.model_version == lite0_embedder.model_version
    assert path.stat().st_mtime_ns == mtime
    assert np.array_equal(again.embed(images[:2]), lite0_embedder.embed(images[:2]))


def test_a_conversion_that_differs_is_refused_and_keras_used(tmp_path, monkeypatch, caplog, images):
    from navee_monitor.descriptors import tflite_runtime
    from navee_monitor.descriptors.embedder import KerasEmbedder
    from navee_monitor.settings import load_settings

    # a 64-px model converts in seconds; a negative tolerance refuses any conversion
    monkeypatch.setattr(tflite_runtime, "MAX_ABS_DIFF", -1.0)
    settings = load_settings(None, environ={}, use_default_file=False, overrides={
        "data_dir": str(tmp_path), "embedding": {"image_size": 64}})
    with caplog.at_level(logging.WARNING, logger="navee_monitor.descriptors.embedder"):
        embedder = build_embedder(settings)
    assert isinstance(embedder, KerasEmbedder)
    assert "differs from Keras" in caplog.text and "embedding with Keras instead" in caplog.text
    assert not list((tmp_path / "models").glob("tflite/*.tflite"))  # nothing refused is cached
    assert embedder.embed(images[:1]).shape == (1, 1280)


def test_a_damaged_cached_model_is_converted_again(tmp_path, caplog, images):
    from navee_monitor.descriptors.tflite_runtime import (
        TfliteEmbedder,
        cached_model_path,
    )
    from navee_monitor.settings import load_settings

    settings = load_settings(None, environ={}, use_default_file=False, overrides={
        "data_dir": str(tmp_path), "embedding": {"image_size": 64}})
    first = build_embedder(settings)
    path = cached_model_path(settings.path("models"), first.model_version)
    path.write_bytes(path.read_bytes()[:1000])  # an interrupted copy
    with caplog.at_level(logging.WARNING, logger="navee_monitor.descriptors.tflite_runtime"):
        again = build_embedder(settings)
    assert isinstance(again, TfliteEmbedder) and "converting again" in caplog.text
    assert path.stat().st_size > 1000
    assert np.array_equal(again.embed(images[:2]), first.embed(images[:2]))
