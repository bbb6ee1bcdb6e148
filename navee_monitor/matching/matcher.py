"""The matcher: is an image (or a part of it) a copy of a reference artwork?

For a batch of images:

1. regions: the whole image, plus YOLO object crops and class-agnostic
   framed rectangles (partial copies: mock-ups, collages, screenshots);
2. one batched CNN embedding of every region, index top-k per region,
   exact cosine re-rank (inside the index);
3. crop similarities re-weighted by crop size and detection confidence
   (the study's idea, ``navee_monitor.detect.weighting``), candidates merged
   per reference keeping the best region;
4. a PDQ tier that answers identical and near-identical copies cheaply;
5. geometric verification (ORB + RANSAC) of the best candidates, which
   also locates the copy inside the image (its bbox);
6. one calibrated score (``scoring``), verdict ``match`` at or above
   ``matching.threshold``, ``candidate`` otherwise.

Steps 1, 4 and 5 are per image and run on ``matching.workers`` threads
(``navee_monitor.matching.parallel``) while the calling thread embeds the
crops of the images already prepared, in the same batches as embedding them
all at once; an image's result depends on that image only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

import numpy as np

from navee_monitor.matching import scoring
from navee_monitor.matching.parallel import StageClock, parallel_map
from navee_monitor.matching.verify import NOTHING, Verification, verify
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatchResult:
    reference: str
    score: float
    verdict: str
    method: str
    bbox: list[int] | None
    details: dict = field(default_factory=dict, compare=False)

    def as_json(self) -> dict:
        return {"reference": self.reference, "score": round(self.score, 4), "verdict": self.verdict,
                "method": self.method, "bbox": self.bbox}


@dataclass
class _Candidate:
    key: str
    cosine: float  # re-weighted similarity of the best region
    raw_cosine: float
    region: int  # 0 = whole image
    pdq_distance: int | None = None
    verification: Verification = NOTHING


@dataclass(frozen=True)
class _Prepared:
    """An image's regions (0 = the whole image), their crops and its PDQ near-copies."""

    regions: list
    crops: list[np.ndarray]
    pdq_near: list[tuple[str, int]]


class Matcher:
    """Loads its models lazily; one instance per process is meant to be reused."""

    def __init__(self, settings: Settings, catalog=None, proposer="auto", score_model: scoring.ScoreModel | None = None):
        self.settings = settings
        self.m = settings.matching
        self._catalog = catalog
        self._proposer = proposer
        self.score_model = score_model or self._configured_score_model(settings)
        self._features = None
        self._refdata = None
        self.timings: dict[str, float] = {}

    @staticmethod
    def _configured_score_model(settings: Settings) -> scoring.ScoreModel:
        """The score model calibrated for the configured trained model (stored in its artifact),
        else the default fitted for the ImageNet descriptor: the same model scores the same in
        the daemon, ``check-url``, ``match`` and ``evaluate``."""
        from navee_monitor.training.artifact import score_model_for

        return score_model_for(settings) or scoring.ScoreModel(
            **{**scoring.DEFAULT_MODEL.__dict__, "pdq_max_distance": settings.matching.pdq_max_distance}
        )

    # ---- lazily built parts ---------------------------------------------------
    @property
    def catalog(self):
        if self._catalog is None:
            from navee_monitor.references.catalog import ReferenceCatalog

            self._catalog = ReferenceCatalog(self.settings)
        return self._catalog

    @property
    def proposer(self):
        if self._proposer == "auto":
            from navee_monitor.detect import build_proposer

            self._proposer = build_proposer(self.settings)
        return self._proposer

    @property
    def features(self):
        if self._features is None:
            from navee_monitor.descriptors import FeatureCache

            self._features = FeatureCache(self.settings.path("features"), self.m.max_keypoints)
        return self._features

    @property
    def model_version(self) -> str:
        return self.catalog.model_version

    @property
    def refdata(self):
        if self._refdata is None:
            from navee_monitor.matching.reference_data import ReferenceData

            self._refdata = ReferenceData(self.settings)
        return self._refdata

    def refresh(self) -> None:
        """Forget cached reference data (after references were added or removed)."""
        self.refdata.refresh()
        if self._catalog is not None and hasattr(self._catalog, "reload"):
            self._catalog.reload()

    # ---- matching ----------------------------------------------------------------
    def match(self, images: Sequence[np.ndarray]) -> list[list[MatchResult]]:
        """Match a batch. The per-image work (region proposals, PDQ, verification) runs on
        ``matching.workers`` threads while this thread embeds the crops: OpenCV, FAISS and TFLite
        release the GIL, so the cores stay busy. Each image's result depends on that image
        only, so the results are the same for any number of workers."""
        if not images:
            return []
        if len(self.catalog) == 0:
            return [[] for _ in images]
        self._build_parts()
        stages = StageClock()
        with parallel_map(self.m.workers) as run:
            prepared = run(lambda image: self._prepare(image, stages), images)
            vectors = self._embed_as_ready(prepared, stages)
            t = time.perf_counter()
            hits = self.catalog.search(vectors, self.m.top_k)
            stages.add("search", time.perf_counter() - t)
            # region j of the batch belongs to the image whose prepared regions come j-th
            per_image, start = [], 0
            for p in prepared:
                n = len(p.result().regions)
                per_image.append(hits[start:start + n])
                start += n
            decided = run(lambda item: self._decide(*item, stages),
                          [(image, p.result(), h) for image, p, h in zip(images, prepared, per_image)])
            out = [d.result() for d in decided]
        for name, seconds in stages.seconds.items():
            self.timings[name] = self.timings.get(name, 0.0) + seconds
        return out

    def _build_parts(self) -> None:
        """Build the lazily loaded parts here, not in two worker threads at once."""
        _ = self.proposer, self.features
        self.refdata.pdq(self.catalog.embedder_version)

    def _prepare(self, image: np.ndarray, stages: StageClock) -> _Prepared:
        """What an image needs besides the CNN: its regions and crops, and the PDQ tier's answer."""
        from navee_monitor.detect.base import Region
        from navee_monitor.detect.proposer import crop_regions

        t = time.perf_counter()
        h, w = image.shape[:2]
        found = [Region(0, 0, w, h, 1.0, "full")]
        if self.proposer is not None:
            try:
                found += self.proposer.propose(image)[: self.settings.detector.max_crops]
            except Exception:  # a detector failure must not lose the full-image match
                log.exception("region proposal failed; matching the whole image only")
        # a print photographed at an angle is straightened before it is embedded
        crops = crop_regions(image, found, rectify=True)
        t1 = time.perf_counter()
        near = self.refdata.pdq(self.catalog.embedder_version).near(image, self.m.pdq_max_distance)
        stages.add("regions", t1 - t)
        stages.add("pdq", time.perf_counter() - t1)
        return _Prepared(found, crops, near)

    def _embed_as_ready(self, prepared: list[Future], stages: StageClock) -> np.ndarray:
        """Embed the crops in batches of ``embedding.batch_size`` as their images are
        prepared (the same batches as embedding them all at once)."""
        batch = self.settings.embedding.batch_size
        crops: list[np.ndarray] = []
        parts: list[np.ndarray] = []
        done = 0
        for i, p in enumerate(prepared):
            crops.extend(p.result().crops)
            last = i == len(prepared) - 1
            while len(crops) - done >= batch or (last and done < len(crops)):
                t = time.perf_counter()
                parts.append(self.catalog.describe(crops[done:done + batch]))
                stages.add("embed", time.perf_counter() - t)
                done = min(len(crops), done + batch)
        return np.concatenate(parts)

    def _decide(self, image, prepared: _Prepared, hits, stages: StageClock) -> list[MatchResult]:
        from navee_monitor.detect.weighting import CropWeighting

        t = time.perf_counter()
        regions, crops = prepared.regions, prepared.crops
        weighting = CropWeighting.from_settings(self.settings.detector)
        candidates: dict[str, _Candidate] = {}
        for ri, (region, region_hits) in enumerate(zip(regions, hits)):
            for key, cos in region_hits:
                weighted = cos if ri == 0 else weighting.weigh(cos, region, image.shape)
                c = candidates.get(key)
                if c is None or weighted > c.cosine:
                    candidates[key] = _Candidate(key, weighted, cos, ri)
        for key, dist in prepared.pdq_near:
            c = candidates.setdefault(key, _Candidate(key, 0.0, 0.0, 0))
            c.pdq_distance = dist
        ranked = sorted(candidates.values(), key=lambda c: (c.pdq_distance is None, -c.cosine))
        to_verify = ranked[: self.m.verify_top]
        if to_verify:
            self._verify(image, regions, crops, to_verify)
        results = []
        for c in ranked:
            ev = scoring.Evidence(c.cosine, c.verification.inliers, c.verification.coverage, c.pdq_distance)
            score = self.score_model.score(ev)
            if score < self.m.min_score:
                continue
            region = regions[c.region]
            bbox = c.verification.bbox or (None if c.region == 0 else region.bbox)
            method = "full" if c.region == 0 else "crop"
            verdict = "match" if score >= self.m.threshold else "candidate"
            results.append(MatchResult(c.key, score, verdict, method, bbox, details={
                "cosine": round(c.raw_cosine, 4), "weighted_cosine": round(c.cosine, 4),
                "inliers": c.verification.inliers, "coverage": round(c.verification.coverage, 3),
                "pdq_distance": c.pdq_distance, "region": region.label,
            }))
        results.sort(key=lambda r: -r.score)
        stages.add("verify", time.perf_counter() - t)
        return results

    def _verify(self, image, regions, crops, candidates: list[_Candidate]) -> None:
        """Verify each candidate on the region it was found in: a copy that is a
        small part of the image (a poster on a wall) has too few keypoints among
        the whole image's to support a homography, but plenty inside its crop."""
        from navee_monitor.descriptors import extract_local_features

        features: dict[int, object] = {}
        for c in candidates:
            ref = self.refdata.features(c.key, self.features, self.m.max_keypoints)
            if ref is None:
                continue
            if c.region not in features:
                # the whole image gets twice the keypoints: the copy may be a small part of it
                budget = 2 * self.m.max_keypoints if c.region == 0 else self.m.max_keypoints
                features[c.region] = extract_local_features(image if c.region == 0 else crops[c.region], budget)
            q = features[c.region]
            v = verify(q, ref)
            if c.region and v.bbox is not None:
                region = regions[c.region]
                if region.quad is not None and crops[c.region].shape[:2] != (region.h, region.w):
                    bbox = region.bbox  # a rectified crop: its pixels are not the image's
                else:
                    bbox = [v.bbox[0] + region.x, v.bbox[1] + region.y, v.bbox[2], v.bbox[3]]
                v = replace(v, bbox=bbox)
            c.verification = v
