"""TensorFlow models are loaded once per test session and shared."""

from __future__ import annotations

import pytest

from navee_monitor.settings import load_settings


@pytest.fixture(scope="session")
def models_settings(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("descriptors-data")
    return load_settings(None, environ={}, overrides={"data_dir": str(data_dir)}, use_default_file=False)


@pytest.fixture(scope="session")
def lite0_embedder(models_settings):
    from navee_monitor.descriptors import build_embedder

    return build_embedder(models_settings)


@pytest.fixture(scope="session")
def lite0_classifier(models_settings):
    from navee_monitor.descriptors.efficientnet_lite import load_efficientnet_lite0

    model, _sha = load_efficientnet_lite0(models_settings.path("models"), 224, include_top=True)
    return model
