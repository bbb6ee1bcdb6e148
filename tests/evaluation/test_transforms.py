"""Every transform of the suite: a valid, different image of sane size, reproducible from its seed."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from navee_monitor.evaluation.dataset import load_rgb
from navee_monitor.evaluation.transforms import GROUPS, MAX_OUTPUT_SIDE, build_suite
from tests.helpers.shared import art_images, photo_images

#: transforms without any random parameter (the seed cannot change them)
SEED_FREE = {"grayscale", "hflip", "vflip"}


@lru_cache(maxsize=1)
def _suite():
    return build_suite(photo_images(3), art_images(40)[-3:])


@lru_cache(maxsize=1)
def _artwork() -> np.ndarray:
    return load_rgb(art_images(1)[0], max_side=384)


def _names():
    # the names are known without ../shared: build with placeholder pools
    return sorted(build_suite(["unused-background.jpg"], ["unused-filler.jpg"]))


def test_suite_covers_what_the_issue_asks_for():
    names = set(_names())
    required = {
        "jpeg_recompress", "downscale", "grayscale", "color_shift", "blur", "noise",
        "crop_mild", "crop_medium", "crop_hard", "hflip", "vflip", "rotate_small", "rotate_90",
        "border", "frame", "caption", "overlay_text", "emoji", "logo", "watermark", "aspect_ratio",
        "perspective", "mockup", "collage", "screenshot_browser", "screenshot_social", "meme",
        "combo_mild", "combo_hard",
    }
    assert required <= names
    suite = build_suite(["b.jpg"], ["f.jpg"])
    assert {s.group for s in suite.values()} == set(GROUPS)
    assert all(s.implementation in ("augly", "own") for s in suite.values())
    # without pictures to paste into, the composites that need them are left out
    assert {"mockup", "collage"}.isdisjoint(build_suite())


@pytest.mark.parametrize("name", _names())
def test_transform_output(name):
    spec = _suite()[name]
    rgb = _artwork()
    out = spec.fn(rgb.copy(), np.random.default_rng(7))
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert 32 <= min(out.shape[:2]) and max(out.shape[:2]) <= MAX_OUTPUT_SIDE
    if out.shape == rgb.shape:
        changed = float((np.abs(out.astype(int) - rgb.astype(int)).max(axis=2) > 8).mean())
        assert changed > 0.005, f"the transform changed only {changed:.2%} of the pixels"
    again = spec.fn(rgb.copy(), np.random.default_rng(7))
    assert np.array_equal(out, again), "same seed, different image"
    if name not in SEED_FREE:
        others = [spec.fn(rgb.copy(), np.random.default_rng(seed)) for seed in (8, 9, 10)]
        assert any(o.shape != out.shape or not np.array_equal(o, out) for o in others), "the seed has no effect"


def test_readme_documents_every_transform():
    from tests.helpers.shared import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### The transformation suite"):]
    for spec in build_suite(["b.jpg"], ["f.jpg"]).values():
        assert f"| {spec.group} | `{spec.name}` |" in table, spec.name
