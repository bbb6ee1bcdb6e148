"""The crop score re-weighting formula."""

from __future__ import annotations

import math

import pytest

from navee_monitor.detect import CropWeighting, Region, area_fraction


def test_full_image_is_never_changed():
    for w in (CropWeighting(0.7, 1.0, 0.25), CropWeighting(0.0, 2.0, 1.0), CropWeighting.neutral()):
        assert w.factor(1.0, 1.0) == 1.0


def test_formula_values():
    w = CropWeighting(alpha=0.5, beta=1.0, gamma=0.0)
    assert w.factor(0.25, 0.3) == pytest.approx(0.5 + 0.5 * 0.5)
    w = CropWeighting(alpha=0.0, beta=2.0, gamma=1.0)
    assert w.factor(0.04, 0.5) == pytest.approx(0.2**2 * 0.5)
    w = CropWeighting(alpha=0.7, beta=1.0, gamma=0.25)
    assert w.factor(0.09, 0.81) == pytest.approx((0.7 + 0.3 * 0.3) * 0.81**0.25)


def test_monotone_in_size_and_confidence():
    w = CropWeighting(alpha=0.7, beta=1.0, gamma=0.25)
    sizes = [w.factor(a, 0.9) for a in (0.02, 0.1, 0.3, 0.9)]
    confs = [w.factor(0.2, c) for c in (0.1, 0.4, 0.9)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    assert confs == sorted(confs) and len(set(confs)) == 3


def test_neutral_and_clamping():
    n = CropWeighting.neutral()
    assert n.factor(0.01, 0.01) == 1.0
    assert CropWeighting() == n, "the defaults are neutral (what the benchmark found best)"
    w = CropWeighting(alpha=0.7, beta=1.0, gamma=0.25)
    assert w.factor(2.0, 1.5) == 1.0
    assert w.factor(-1, 0.5) == pytest.approx(0.7 * 0.5**0.25)
    with pytest.raises(ValueError):
        CropWeighting(alpha=1.5)


def test_weigh_region_and_settings(make_settings):
    s = make_settings(detector={"weight_alpha": 0.4, "weight_beta": 1.5, "weight_gamma": 0.5})
    w = CropWeighting.from_settings(s.detector)
    assert (w.alpha, w.beta, w.gamma) == (0.4, 1.5, 0.5)
    region = Region(0, 0, 100, 50, 0.64, "dog")
    assert area_fraction(region, (200, 100, 3)) == 0.25
    expected = 0.8 * (0.4 + 0.6 * 0.5) ** 1.5 * 0.8
    assert w.weigh(0.8, region, (200, 100, 3)) == pytest.approx(expected)
    default = CropWeighting.from_settings(make_settings().detector)
    assert default == CropWeighting.neutral() and math.isclose(default.factor(0.05, 0.3), 1.0)
