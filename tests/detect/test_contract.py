"""One contract suite for every RegionProposer: trivial, contour, YOLO and composite."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.detect import (
    CompositeProposer,
    ContourRegionProposer,
    FixedRegionsProposer,
    FullImageProposer,
    Region,
    RegionProposer,
)
from navee_monitor.detect.mockup import paste_framed

PROPOSERS = ["full", "fixed", "contour", "yolo", "composite"]


@pytest.fixture(params=PROPOSERS)
def proposer(request) -> RegionProposer:
    kind = request.param
    if kind == "full":
        return FullImageProposer()
    if kind == "fixed":
        return FixedRegionsProposer()
    if kind == "contour":
        return ContourRegionProposer()
    yolo = request.getfixturevalue("yolo")
    if kind == "yolo":
        return yolo
    return CompositeProposer([yolo, ContourRegionProposer(), FixedRegionsProposer()], max_crops=8)


def _check_regions(regions: list[Region], image: np.ndarray) -> None:
    h, w = image.shape[:2]
    assert isinstance(regions, list)
    for r in regions:
        assert isinstance(r, Region)
        assert all(isinstance(v, int) for v in (r.x, r.y, r.w, r.h)), r
        assert r.w >= 1 and r.h >= 1, r
        assert 0 <= r.x and 0 <= r.y and r.x + r.w <= w and r.y + r.h <= h, (r, w, h)
        assert 0.0 <= r.score <= 1.0, r
        assert isinstance(r.label, str) and r.label
        assert r.bbox == [r.x, r.y, r.w, r.h]
        if r.quad is not None:
            assert len(r.quad) == 4
    scores = [r.score for r in regions]
    assert scores == sorted(scores, reverse=True), "regions must come best first"


def test_satisfies_protocol(proposer):
    assert isinstance(proposer, RegionProposer)


@pytest.fixture(scope="module")
def mockup(artworks, dog_rgb) -> np.ndarray:
    """Objects for YOLO (dog, bicycle, car) and a framed artwork for the contour proposer."""
    image, _ = paste_framed(dog_rgb, artworks[0], width_fraction=0.25, centre=(0.82, 0.78))
    return image


def test_real_image_regions_valid_deterministic_input_untouched(proposer, mockup):
    before = mockup.copy()
    first = proposer.propose(mockup)
    _check_regions(first, mockup)
    assert first, "every proposer finds something in a photo with objects and a framed picture"
    assert proposer.propose(mockup) == first
    assert np.array_equal(mockup, before), "propose() must not modify its input"


def test_real_photo_without_frames(proposer, dog_rgb):
    _check_regions(proposer.propose(dog_rgb), dog_rgb)


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 300, 3), (300, 2, 3), (40, 700, 3)])
def test_tiny_and_extreme_shapes(proposer, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    _check_regions(proposer.propose(image), image)


def test_flat_image(proposer):
    image = np.full((240, 320, 3), 128, np.uint8)
    _check_regions(proposer.propose(image), image)


def test_non_contiguous_view(proposer, dog_rgb):
    view = dog_rgb[::2, ::-1]  # strided and mirrored: not C-contiguous
    assert not view.flags["C_CONTIGUOUS"]
    _check_regions(proposer.propose(view), view)
