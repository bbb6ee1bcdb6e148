"""build_proposer, CompositeProposer and crop_regions with the real models and images."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from navee_monitor.detect import (
    CompositeProposer,
    ContourRegionProposer,
    FixedRegionsProposer,
    FullImageProposer,
    Region,
    YoloDetector,
    build_proposer,
    crop_regions,
)
from navee_monitor.detect.boxes import iou
from navee_monitor.detect.mockup import paste_framed


def _warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def detector_settings(make_settings, yolo_files):
    def _make(**detector):
        return make_settings(detector={**yolo_files, **detector})

    return _make


def test_build_proposer_with_real_files(detector_settings, dog_rgb, caplog):
    caplog.set_level(logging.INFO, logger="navee_monitor.detect")
    proposer = build_proposer(detector_settings())
    assert isinstance(proposer, CompositeProposer)
    assert not _warnings(caplog)
    labels = {r.label for r in proposer.propose(dog_rgb)}
    assert {"dog", "bicycle"} <= labels


def test_framed_artwork_found_through_build_proposer(detector_settings, artworks, photos):
    image, gt = paste_framed(photos[1], artworks[1], width_fraction=0.35)
    regions = build_proposer(detector_settings()).propose(image)
    best = max(regions, key=lambda r: iou(r.bbox, gt))
    assert iou(best.bbox, gt) >= 0.7 and best.label == "region"
    without = build_proposer(detector_settings(regions=False)).propose(image)
    assert all(r.label != "region" for r in without)


def test_fixed_crops_setting(detector_settings, dog_rgb):
    regions = build_proposer(detector_settings(fixed_crops=True, max_crops=20)).propose(dog_rgb)
    assert any(r.label == "fixed" for r in regions)


@pytest.mark.parametrize(
    "detector,expect",
    [({"enabled": False}, "detector.enabled is false"), ({"max_crops": 0}, "detector.max_crops is 0")],
)
def test_disabled_gives_none_and_one_warning(detector_settings, caplog, detector, expect):
    caplog.set_level(logging.INFO)
    assert build_proposer(detector_settings(**detector)) is None
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and expect in warnings[0].getMessage()


def test_missing_files_keep_regions_with_one_warning(make_settings, data_dir, caplog):
    caplog.set_level(logging.INFO)
    settings = make_settings()  # defaults: <data_dir>/models/, empty
    proposer = build_proposer(settings)
    assert proposer is not None  # framed regions need no model file
    assert not any(isinstance(p, YoloDetector) for p in proposer.proposers)
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert "models fetch" in msg and str(data_dir / "models" / "yolo-fastest-1.1-xl.weights") in msg
    assert build_proposer(make_settings(detector={"regions": False})) is None


def test_damaged_weights_give_none_and_one_warning(detector_settings, tmp_path, yolo_files, caplog):
    bad = tmp_path / "cut.weights"
    bad.write_bytes(open(yolo_files["weights"], "rb").read()[:50_000])
    caplog.set_level(logging.INFO)
    proposer = build_proposer(detector_settings(weights=str(bad)))
    assert proposer is None or not any(isinstance(p, YoloDetector) for p in proposer.proposers)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "truncated" in warnings[0].getMessage()


def test_composite_filters_dedups_caps_and_orders(dog_rgb):
    h, w = dog_rgb.shape[:2]
    full = FullImageProposer()  # 100 % of the image: repeats the full search, dropped
    fixed = FixedRegionsProposer(centre_fractions=(0.8, 0.79, 0.1), corner_fraction=0.6)
    comp = CompositeProposer([full, fixed], max_crops=3, min_crop_fraction=0.02, max_crop_fraction=0.9, dedup_iou=0.7)
    regions = comp.propose(dog_rgb)
    assert len(regions) == 3
    assert all(0.02 <= r.area / (h * w) <= 0.9 for r in regions)
    assert all(r.label == "fixed" for r in regions)
    # 0.79 duplicates 0.8 (IoU 0.975) and the 0.1 centre crop is 1 % of the image
    assert regions[0].w == round(0.8 * w) and regions[1].w == round(0.6 * w)
    assert all(iou(a.bbox, b.bbox) < 0.7 for i, a in enumerate(regions) for b in regions[i + 1:])
    assert CompositeProposer([fixed], max_crops=0).propose(dog_rgb) == []


def test_composite_survives_a_failing_proposer(yolo_files, tmp_path, artworks, photos, caplog):
    names = tmp_path / "wrong.names"
    names.write_text("only\nthree\nclasses\n")
    broken = YoloDetector(yolo_files["weights"], names, yolo_files["cfg"])  # fails at inference
    image, gt = paste_framed(photos[0], artworks[0], width_fraction=0.35)
    comp = CompositeProposer([broken, ContourRegionProposer()])
    regions = comp.propose(image)
    assert max(iou(r.bbox, gt) for r in regions) >= 0.7
    assert any("YoloDetector failed" in r.getMessage() for r in _warnings(caplog))


def test_crop_regions(dog_rgb):
    regions = [Region(10, 20, 30, 40, 0.9, "x"), Region(0, 0, dog_rgb.shape[1], dog_rgb.shape[0], 1.0, "full")]
    crops = crop_regions(dog_rgb, regions)
    assert [c.shape for c in crops] == [(40, 30, 3), dog_rgb.shape]
    assert np.array_equal(crops[0], dog_rgb[20:60, 10:40]) and crops[0].flags["C_CONTIGUOUS"]
    # an axis-aligned quad is cropped, not warped
    boxed = Region(10, 20, 30, 40, 0.9, "region", quad=((10, 20), (40, 20), (40, 60), (10, 60)))
    assert np.array_equal(crop_regions(dog_rgb, [boxed])[0], crops[0])
    with pytest.raises(ValueError):
        crop_regions(dog_rgb, [Region(5000, 5000, 10, 10, 0.5, "x")])
