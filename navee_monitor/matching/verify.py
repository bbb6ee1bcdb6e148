"""Geometric verification of a candidate with local features.

Binary descriptors (ORB) are matched with a ratio test, then a RANSAC
homography maps the reference onto the query image
(``descriptors.fit_homography``, shared with ``count_inliers``). The evidence is the
number of inliers, the share of the reference the inliers cover, and where
the reference lands in the query (its bbox). This is what separates a real
copy from a look-alike (two flat vector illustrations can have close CNN
descriptors, they rarely share 20 geometrically consistent keypoints).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from navee_monitor.descriptors.local_features import LocalFeatureSet, fit_homography

#: Lowe's ratio for binary descriptors
RATIO = 0.8
#: fewer good matches than this cannot support a homography worth trusting
MIN_MATCHES = 8
#: unrelated images reach up to ~8 chance inliers (measured on ../shared/data)
MIN_INLIERS = 10
RANSAC_REPROJ_PX = 6.0


@dataclass(frozen=True)
class Verification:
    inliers: int
    matches: int
    #: share of the reference's area spanned by the inliers' convex hull, in [0, 1]
    coverage: float
    #: [x, y, w, h] of the reference's projection in the query image, or None
    bbox: list[int] | None

    @property
    def found(self) -> bool:
        return self.bbox is not None


NOTHING = Verification(0, 0, 0.0, None)


def _plausible(h: np.ndarray, ref_w: int, ref_h: int) -> np.ndarray | None:
    """Projected reference corners when the homography is not degenerate."""
    corners = np.float32([[0, 0], [ref_w, 0], [ref_w, ref_h], [0, ref_h]]).reshape(-1, 1, 2)
    try:
        quad = cv2.perspectiveTransform(corners, h).reshape(-1, 2)
    except cv2.error:
        return None
    if not np.all(np.isfinite(quad)):
        return None
    if not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
        return None
    area = cv2.contourArea(quad.astype(np.float32))
    if area < 0.0005 * ref_w * ref_h:  # collapsed to a sliver: a degenerate fit
        return None
    return quad


def verify(query: LocalFeatureSet, ref: LocalFeatureSet) -> Verification:
    """Match a reference's features against a query's and locate the reference in the query."""
    fit = fit_homography(ref, query, ratio=RATIO, reproj_threshold=RANSAC_REPROJ_PX, min_matches=MIN_MATCHES)
    if fit.homography is None:
        return Verification(0, fit.matches, 0.0, None)
    quad = _plausible(fit.homography, *ref.image_size)
    if fit.inliers < MIN_INLIERS or quad is None:
        return Verification(fit.inliers, fit.matches, 0.0, None)
    hull = cv2.convexHull(fit.inlier_points.astype(np.float32))
    ref_w, ref_h = ref.image_size
    coverage = min(1.0, float(cv2.contourArea(hull) / max(1.0, ref_w * ref_h)))
    qw, qh = query.image_size
    x0, y0 = np.clip(quad.min(axis=0), 0, [qw, qh])
    x1, y1 = np.clip(quad.max(axis=0), 0, [qw, qh])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return Verification(fit.inliers, fit.matches, coverage, None)
    bbox = [int(x0), int(y0), int(round(x1 - x0)), int(round(y1 - y0))]
    return Verification(fit.inliers, fit.matches, coverage, bbox)
