"""The Keras port of EfficientNet-Lite0 classifies real photographs like the original.

Class indices are those of the standard ImageNet-1k order (the order of Keras'
``imagenet_class_index.json`` and of torchvision; that file is not available
offline, so the few names the test needs are listed here). Expected
probabilities: DESIGN.md section 8 (a correct port; padding or normalisation
mistakes lower them).
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from navee_monitor.descriptors.efficientnet_lite import classify
from navee_monitor.imaging import load_image
from navee_monitor.settings import ImagingSettings
from tests.helpers.shared import shared_path

KITE, BALD_EAGLE = 21, 22
GERMAN_SHEPHERD, MALAMUTE, GREAT_PYRENEES = 235, 249, 257
TABBY, TIGER_CAT, PERSIAN, SIAMESE, EGYPTIAN_CAT = 281, 282, 283, 284, 285
DOG_BREEDS = range(151, 269)
CAT_CLASSES = range(281, 286)

# image -> expected (class, probability) of the top-1 and top-2 (None: only the class family is checked)
EXPECTED = {
    "dog": [(MALAMUTE, 0.38), (GERMAN_SHEPHERD, 0.28)],
    "eagle": [(KITE, 0.48), (BALD_EAGLE, 0.23)],
    "person": [(GREAT_PYRENEES, 0.28), None],
    "chelsea": [(TIGER_CAT, 0.39), (EGYPTIAN_CAT, 0.36)],
}


def _image(name: str) -> np.ndarray:
    if name == "chelsea":
        return skimage.data.chelsea()
    return load_image(shared_path("data", "detect", f"{name}.jpg"), ImagingSettings())


@pytest.fixture(scope="module")
def probabilities(lite0_classifier):
    names = list(EXPECTED)
    probs = classify(lite0_classifier, [_image(n) for n in names])
    return dict(zip(names, probs, strict=True))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_top2_classes_and_probabilities(probabilities, name):
    probs = probabilities[name]
    top2 = [int(i) for i in np.argsort(-probs)[:2]]
    family = CAT_CLASSES if name == "chelsea" else DOG_BREEDS
    if name == "eagle":
        assert set(top2) == {KITE, BALD_EAGLE}
    else:
        assert all(i in family for i in top2), top2
    for rank, expected in enumerate(EXPECTED[name]):
        if expected is None:
            continue
        cls, p = expected
        assert top2[rank] == cls, (name, top2)
        assert probs[cls] == pytest.approx(p, abs=0.03), (name, cls, float(probs[cls]))


def test_probabilities_are_a_distribution(probabilities):
    for probs in probabilities.values():
        assert probs.shape == (1000,) and probs.sum() == pytest.approx(1.0, abs=1e-4)
