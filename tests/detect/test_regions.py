"""Class-agnostic regions on synthetic mock-ups built from real artworks and photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from navee_monitor.detect import ContourRegionProposer, crop_regions
from navee_monitor.detect.boxes import iou
from navee_monitor.detect.mockup import paste_framed, paste_perspective


def _best_iou(regions, gt) -> float:
    return max((iou(r.bbox, gt) for r in regions), default=0.0)


def _wall_quad(shape) -> np.ndarray:
    """A print on a wall seen from the left and a little below: a perspective quadrilateral."""
    h, w = shape[:2]
    return np.array([[0.30 * w, 0.22 * h], [0.68 * w, 0.30 * h], [0.66 * w, 0.74 * h], [0.31 * w, 0.80 * h]])


@pytest.fixture(scope="module")
def proposer():
    return ContourRegionProposer()


@pytest.mark.parametrize("i", range(6))
def test_framed_artwork_on_photo_is_proposed(proposer, artworks, photos, i):
    image, gt = paste_framed(photos[i], artworks[i], width_fraction=0.35, centre=(0.45, 0.5))
    assert _best_iou(proposer.propose(image), gt) >= 0.7


def test_framed_artwork_with_mat_off_centre(proposer, artworks, photos):
    image, gt = paste_framed(photos[1], artworks[2], width_fraction=0.3, frame_fraction=0.03,
                             mat_fraction=0.08, centre=(0.3, 0.35))
    assert _best_iou(proposer.propose(image), gt) >= 0.7


def test_framed_artwork_on_small_web_image(proposer, artworks, photos):
    small = photos[3][::4, ::4].copy()  # ~256 px, like many crawled images
    image, gt = paste_framed(small, artworks[0], width_fraction=0.4, frame_fraction=0.05)
    assert _best_iou(proposer.propose(image), gt) >= 0.7


@pytest.mark.parametrize("margin", ["white", "dark"])
def test_print_on_wall_in_perspective(proposer, artworks, photos, margin):
    """A print with a margin, warped onto busy city photos: found in at least 5 of 6 (measured 5/6)."""
    rgb = (250, 250, 250) if margin == "white" else (50, 35, 20)
    scores = []
    for art, photo in zip(artworks, photos):
        image, gt = paste_perspective(photo, art, _wall_quad(photo.shape), border_px=max(6, art.shape[1] // 30),
                                      border_rgb=rgb)
        scores.append(_best_iou(proposer.propose(image), gt))
    assert sum(s >= 0.5 for s in scores) >= 5, scores


def test_perspective_region_carries_its_corners_and_rectifies(proposer, artworks, photos):
    photo, art = photos[0], artworks[0]
    quad = _wall_quad(photo.shape)
    border = max(6, art.shape[1] // 30)
    image, gt = paste_perspective(photo, art, quad, border_px=border)
    best = max(proposer.propose(image), key=lambda r: iou(r.bbox, gt))
    assert iou(best.bbox, gt) >= 0.5 and best.quad is not None
    # the corners found lie near the print's true corners (margin included)
    err = np.abs(np.asarray(best.quad) - quad).max()
    assert err < 0.06 * max(photo.shape[:2]), (best.quad, quad)
    (rectified,) = crop_regions(image, [best])
    (plain,) = crop_regions(image, [best], rectify=False)
    assert plain.shape[:2] == (best.h, best.w)
    # rectified, the print is upright again: brought to the artwork's size it looks
    # like the artwork (or the print, if the outline found is the margin's), far
    # more than the box crop with the wall in its corners does
    printed = cv2.copyMakeBorder(art, border, border, border, border, cv2.BORDER_CONSTANT, value=(250, 250, 250))

    def diff(crop):
        out = []
        for target in (art, printed):
            size = (target.shape[1] // 4, target.shape[0] // 4)
            a = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            out.append(float(np.abs(a - cv2.resize(target, size, interpolation=cv2.INTER_AREA)).mean()))
        return min(out)

    assert diff(rectified) < 20 and diff(rectified) < 0.6 * diff(plain), (diff(rectified), diff(plain))


def test_plain_photos_give_few_proposals(proposer, photos):
    counts = [len(proposer.propose(p)) for p in photos]
    assert all(c <= proposer.max_regions for c in counts)
