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


def test_real_photo_regions_valid_deterministic_input_untouched(proposer, dog_rgb):
    before = dog_rgb.copy()
    first = proposer.propose(dog_rgb)
    _check_regions(first, dog_rgb)
    assert first, "a real photograph yields at least one region"
    assert proposer.propose(dog_rgb) == first
    assert np.array_equal(dog_rgb, before), "propose() must not modify its input"


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
