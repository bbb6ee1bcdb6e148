"""Geometric verification and the PDQ tier on real images."""

import numpy as np
import pytest
from PIL import Image

from navee_monitor.descriptors import extract_local_features, pdq_hash
from navee_monitor.matching.pdq_tier import PdqTier
from navee_monitor.matching.scoring import DEFAULT_MODEL, Evidence
from navee_monitor.matching.verify import verify
from tests.helpers.shared import art_images, photo_images


def _rgb(path, side=640):
    im = Image.open(path).convert("RGB")
    im.thumbnail((side, side))
    return np.asarray(im)


def _verify(query, ref):
    q = extract_local_features(query, 2000)
    r = extract_local_features(ref, 1000)
    return verify(q, r)


def test_pasted_copies_are_located_with_their_bbox():
    located = 0
    backgrounds = photo_images(5)
    for i, path in enumerate(art_images(40)[::8]):
        art = _rgb(path, 512)
        background = np.asarray(Image.fromarray(_rgb(backgrounds[i], 1024)).resize((1000, 750))).copy()
        small = np.asarray(Image.fromarray(art).resize((int(art.shape[1] * 0.75), int(art.shape[0] * 0.75))))
        y, x = 60, 100
        background[y : y + small.shape[0], x : x + small.shape[1]] = small
        v = _verify(background, art)
        if not v.found:
            continue
        bx, by, bw, bh = v.bbox
        assert abs(bx - x) < 15 and abs(by - y) < 15, v
        assert abs(bw - small.shape[1]) < 20 and abs(bh - small.shape[0]) < 20, v
        located += 1
    assert located >= 4


def test_unrelated_images_do_not_verify():
    arts = art_images(6)
    found = [_verify(_rgb(arts[i]), _rgb(arts[i + 1])) for i in range(0, 6, 2)]
    assert all(v.inliers < 15 for v in found), [v.inliers for v in found]


def test_pdq_tier_finds_flipped_recompressed_copy_and_not_others():
    paths = art_images(20)
    refs = [_rgb(p, 512) for p in paths]
    rows = [(f"k{i}", *pdq_hash(r)) for i, r in enumerate(refs)]
    tier = PdqTier.from_references(rows)
    import io

    buf = io.BytesIO()
    Image.fromarray(refs[7][:, ::-1]).save(buf, "JPEG", quality=60)
    query = np.asarray(Image.open(buf).convert("RGB"))
    near = tier.near(query, 31)
    assert near and near[0][0] == "k7"
    assert all(k == "k7" for k, _ in near)


def test_score_is_monotonic_and_bounded():
    m = DEFAULT_MODEL
    low, mid, high = m.score(Evidence(0.3)), m.score(Evidence(0.8)), m.score(Evidence(0.8, inliers=60, coverage=0.7))
    assert 0.0 <= low < mid < high <= 1.0
    assert m.score(Evidence(0.1, pdq_distance=4)) >= 0.95


@pytest.mark.parametrize("n", [0, 3])
def test_verify_with_too_few_features_finds_nothing(n):
    from navee_monitor.descriptors import LocalFeatureSet

    feats = LocalFeatureSet(np.zeros((n, 2), np.float32), np.zeros((n, 32), np.uint8), (10, 10))
    v = verify(feats, feats)
    assert not v.found and v.inliers == 0
