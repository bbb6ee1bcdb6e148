"""Tiny real training data: eight artworks of ../shared/data, small inputs."""

from __future__ import annotations

import pytest

from tests.helpers.shared import art_images

#: small enough for a few CPU steps per test, big enough for EfficientNet-Lite0 (stride 32)
SIZE = 64


@pytest.fixture
def eight_items():
    from navee_monitor.training.data import TrainingItem

    paths = art_images(8)
    return [TrainingItem(p.stem, p) for p in paths]


@pytest.fixture
def labelled_items(eight_items):
    import numpy as np

    from navee_monitor.training.data import TrainingItem

    # two classes, four images each: enough positive pairs for the triplet loss
    return [TrainingItem(i.key, i.path, np.array([k % 2 == 0, k % 2 == 1, k < 4], np.float32))
            for k, i in enumerate(eight_items)]
