"""The whitening policy (pure) and the reference queries (real SQLite)."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.references.catalog import WhiteningPolicy
from navee_monitor.store import references as store
from navee_monitor.store.db import session_scope


@pytest.mark.parametrize("n, fitted_on, expected", [
    (0, None, "none"), (7, None, "none"), (8, None, "fit"), (100, None, "fit"),
    (8, 8, "keep"), (15, 8, "keep"), (16, 8, "fit"), (4, 8, "keep"),
])
def test_whitening_policy(n, fitted_on, expected):
    policy = WhiteningPolicy(dim=4, min_factor=2.0, refit_growth=2.0)
    assert policy.min_references(raw_dim=1280) == 8
    assert policy.decide(n, fitted_on, raw_dim=1280) == expected


def test_whitening_policy_edges():
    assert WhiteningPolicy(dim=0).decide(10_000, None, 1280) == "none"
    assert WhiteningPolicy(dim=0).min_references(1280) is None
    never_refit = WhiteningPolicy(dim=4, min_factor=2.0, refit_growth=0)
    assert never_refit.decide(10_000, 8, 1280) == "keep"
    assert never_refit.decide(9, 8, 1280, force_refit=True) == "fit"
    assert never_refit.decide(7, 8, 1280, force_refit=True) == "none"
    # the output dimension never exceeds the raw one
    wide = WhiteningPolicy(dim=4096, min_factor=1.5)
    assert wide.out_dim(1280) == 1280 and wide.min_references(1280) == 1920


def test_policy_from_settings(make_settings):
    s = make_settings(embedding={"dim": 64}, references={"whitening_min_factor": 3, "whitening_refit_growth": 1.5})
    p = WhiteningPolicy.from_settings(s)
    assert (p.dim, p.min_factor, p.refit_growth) == (64, 3, 1.5)
    assert p.min_references(1280) == 192


def _image(key, collection="c", pixel="p", path=None):
    return store.StoredImage(key=key, collection=collection, source="folder", source_uri=f"/x/{key}.jpg", labels={},
                             sha256="ab" * 32, pixel_sha256=pixel, size_bytes=10, width=4, height=3,
                             image_path=path or f"references/ab/{key}.jpg")


def test_store_roundtrip(db_url):
    with session_scope(db_url) as s:
        store.record_stored(s, _image("a", pixel="p1", path="references/ab/shared.jpg"))
        store.record_stored(s, _image("b", pixel="p2"))
        store.record_stored(s, _image("b2", pixel="p2", path="references/ab/shared.jpg"), duplicate_of="b")
        store.record_failure(s, key="c", collection="c", source="url", source_uri="http://h/c.jpg", labels={"x": "y"},
                             reason="http_404", error="HTTP 404")
        store.record_failure(s, key="d", collection="d", source="url", source_uri="http://h/d.jpg", labels={},
                             reason="timeout", error="slow")
        vecs = np.eye(3, dtype=np.float32)
        store.save_descriptors(s, [store.Descriptor("a", "m", "v1", vecs[0], "00" * 32, 80),
                                   store.Descriptor("b", "m", "v1", vecs[1], None, None)])
        store.save_descriptors(s, [store.Descriptor("a", "m", "v1", vecs[2], "ff" * 32, 90)])  # replaces
    with session_scope(db_url) as s:
        keys, vectors = store.load_vectors(s, "v1")
        assert keys == ["a", "b"] and np.array_equal(vectors, np.stack([np.eye(3)[2], np.eye(3)[1]]).astype(np.float32))
        assert store.count_described(s, "v1") == 2 and store.undescribed(s, "v2") == [
            ("a", "references/ab/shared.jpg"), ("b", "references/ab/b.jpg")]
        assert store.find_pixel_duplicates(s, "c", ["p1", "p2", "p3"]) == {"p1": "a", "p2": "b"}
        assert store.find_pixel_duplicates(s, "other", ["p1"]) == {}
        stats = store.reference_stats(s)
        assert stats["total"] == 5
        assert stats["by_status"] == {"duplicate": 1, "error": 2, "ok": 2}
        assert stats["failures_by_reason"] == {"http_404": 1, "timeout": 1}
        assert stats["by_collection"]["d"] == {"error": 1}
        info = store.reference_info(s, ["a"])["a"]
        assert info.pdq_hash == "ff" * 32 and info.pdq_quality == 90
        # a retried failure counts its attempts
        store.record_failure(s, key="c", collection="c", source="url", source_uri="http://h/c.jpg", labels={},
                             reason="http_500", error="HTTP 500")
    with session_scope(db_url) as s:
        c = store.get_references(s, ["c"])["c"]
        assert (c.error_reason, c.attempts) == ("http_500", 2)
        removed, orphaned = store.remove_references(s, ["a", "b"])
        assert {r.key for r in removed} == {"a", "b"}
        # shared.jpg is still used by b2
        assert orphaned == ["references/ab/b.jpg"]
        assert store.count_described(s, "v1") == 0
