"""PDQ and pHash baselines on real images."""

from __future__ import annotations

import numpy as np

from navee_monitor.evaluation.baselines import build_baselines
from navee_monitor.evaluation.dataset import load_rgb
from navee_monitor.evaluation.transforms import hflip, jpeg_recompress
from tests.helpers.shared import art_images


def test_hash_baselines_rank_and_score():
    paths = art_images(6)
    images = [load_rgb(p, 512) for p in paths]
    keys = [p.stem for p in paths]
    for name, baseline in build_baselines(pdq_max_distance=31, top_k=3).items():
        baseline.add_references(keys, images)
        same = baseline.search("q", images[2])
        assert len(same) == 3
        assert (same[0].reference, same[0].score, same[0].alert) == (keys[2], 1.0, True), name
        assert [p.score for p in same] == sorted((p.score for p in same), reverse=True)
        assert all(0.0 <= p.score <= 1.0 and p.query == "q" for p in same)
        recompressed = baseline.search("q", jpeg_recompress(images[4], np.random.default_rng(0)))
        assert recompressed[0].reference == keys[4] and recompressed[0].alert, name
        # a mirrored copy defeats plain perceptual hashes: the known weakness the matcher must beat
        mirrored = baseline.search("q", hflip(images[4], np.random.default_rng(0)))
        assert not any(p.alert and p.reference == keys[4] for p in mirrored), name
