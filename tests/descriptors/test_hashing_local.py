"""PDQ hashes and ORB local features on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from navee_monitor.descriptors import (
    FeatureCache,
    count_inliers,
    extract_local_features,
    pdq_distance,
    pdq_hash,
    pdq_hashes_dihedral,
    pdq_min_distance,
)
from navee_monitor.imaging import load_image
from navee_monitor.settings import ImagingSettings
from tests.helpers.shared import art_images, photo_images

LIMITS = ImagingSettings()


@pytest.fixture(scope="module")
def images():
    return [load_image(p, LIMITS, max_side=512) for p in art_images(4) + photo_images(2)]


def _jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_pdq_hash_format_and_copies(images):
    art = images[0]
    h, quality = pdq_hash(art)
    assert len(h) == 64 and int(h, 16) >= 0 and 0 <= quality <= 100 and quality >= 50
    small = cv2.resize(art, (art.shape[1] // 2, art.shape[0] // 2), interpolation=cv2.INTER_AREA)
    assert pdq_distance(h, pdq_hash(_jpeg_roundtrip(small, 60))[0]) <= 31  # recompressed, resized copy
    others = [pdq_distance(h, pdq_hash(im)[0]) for im in images[1:]]
    assert min(others) > 31  # distinct images are far apart


def test_pdq_dihedral_variants_find_rotated_and_flipped_copies(images):
    art = images[1]
    variants = pdq_hashes_dihedral(art)
    assert len(variants) == 8 and len(set(variants)) == 8
    assert variants[0] == pdq_hash(art)[0]
    for transformed in (np.rot90(art), np.fliplr(art), np.rot90(art, 2)):
        query = pdq_hash(np.ascontiguousarray(transformed))[0]
        assert pdq_distance(query, variants[0]) > 31  # the plain hash misses it
        assert pdq_min_distance(query, variants) <= 31  # one of the variants catches it


def test_pdq_distance_basics():
    a = "0" * 64
    assert pdq_distance(a, "f" * 64) == 256 and pdq_distance(a, "0" * 63 + "3") == 2
    with pytest.raises(ValueError):
        pdq_distance(a, "abc")


def test_flat_image_has_low_quality():
    _, quality = pdq_hash(np.full((100, 100, 3), 128, np.uint8))
    assert quality < 50


def test_local_features_bounded_and_verify_a_crop(images):
    art = images[2]
    feats = extract_local_features(art, max_keypoints=300)
    assert 50 < len(feats) <= 300
    assert feats.keypoints.dtype == np.float32 and feats.keypoints.shape == (len(feats), 2)
    assert feats.descriptors.dtype == np.uint8 and feats.descriptors.shape == (len(feats), 32)
    assert feats.image_size == (art.shape[1], art.shape[0])
    h, w = art.shape[:2]
    crop = np.ascontiguousarray(art[h // 8: h * 7 // 8, w // 8: w * 7 // 8])
    copy = _jpeg_roundtrip(cv2.resize(crop, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA), 70)
    inliers, homography = count_inliers(extract_local_features(copy, 500), extract_local_features(art, 500))
    assert inliers >= 25 and homography is not None
    # the crop's origin maps back near (w/8, h/8) in the original
    x, y, s = homography @ np.array([0.0, 0.0, 1.0])
    assert abs(x / s - w / 8) < 10 and abs(y / s - h / 8) < 10
    unrelated, _ = count_inliers(extract_local_features(images[4], 500), extract_local_features(art, 500))
    assert unrelated < 15


def test_local_features_of_tiny_or_flat_images_are_empty():
    feats = extract_local_features(np.full((20, 20, 3), 200, np.uint8), 100)
    assert len(feats) == 0 and feats.descriptors.shape == (0, 32)
    assert count_inliers(feats, feats) == (0, None)


def test_feature_cache_computes_once_and_survives_damage(tmp_path, images):
    cache = FeatureCache(tmp_path / "features", max_keypoints=200)
    sha = "ab" + "0" * 62
    calls = []

    def loader():
        calls.append(1)
        return images[3]

    first = cache.get_or_compute(sha, loader)
    second = cache.get_or_compute(sha, loader)
    assert len(calls) == 1
    path = tmp_path / "features" / "ab" / f"{sha}.npz"
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    np.testing.assert_array_equal(first.keypoints, second.keypoints)
    np.testing.assert_array_equal(first.descriptors, second.descriptors)
    assert first.image_size == second.image_size
    # another keypoint budget is another cache entry's content: recomputed
    FeatureCache(tmp_path / "features", max_keypoints=100).get_or_compute(sha, loader)
    assert len(calls) == 2
    path.write_bytes(b"not a zip file")
    again = FeatureCache(tmp_path / "features", max_keypoints=200).get_or_compute(sha, loader)
    assert len(calls) == 3 and len(again) == len(first)
    with pytest.raises(ValueError):
        cache.path("../../etc/passwd")


def test_ratio_test_matches_are_the_bfmatchers(images):
    """FAISS's exact binary search keeps exactly the matches OpenCV's BFMatcher + ratio test keeps."""
    from navee_monitor.descriptors.local_features import ratio_test_matches

    checked = 0
    for i, art in enumerate(images[:4]):
        ref = extract_local_features(art, 1000)
        copy = _jpeg_roundtrip(cv2.resize(art, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA), 60)
        for query in (extract_local_features(copy, 2000), extract_local_features(images[(i + 1) % 6], 2000)):
            pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(ref.descriptors, query.descriptors, k=2)
            good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
            a_idx, b_idx = ratio_test_matches(ref.descriptors, query.descriptors, 0.8)
            assert a_idx.tolist() == [m.queryIdx for m in good]
            assert b_idx.tolist() == [m.trainIdx for m in good]
            checked += len(good)
    assert checked > 500  # the copies gave plenty of matches to compare
