"""navee_monitor.store.crawl on a real migrated SQLite database."""

from __future__ import annotations

import os

from sqlalchemy import select

from navee_monitor.store import crawl as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import CrawlRunRow, FetchedUrlRow, ImageOccurrenceRow, WebImageRow

SHA_A, SHA_B = "a" * 64, "b" * 64


def _sighting(url, sha, **kw):
    return store.ImageSighting(url, "alt", sha256=sha, size_bytes=10, width=50, height=40,
                               content_type="image/jpeg", storage_path=f"images/{sha[:2]}/{sha}",
                               etag='"e1"', **kw)


def test_site_failure_count_rises_on_failure_and_resets_on_success(db_url):
    for status, expected in [("failed", 1), ("failed", 2), ("interrupted", 2), ("ok", 0)]:
        run = store.start_run(db_url, "shop")
        store.finish_run(db_url, run.id, status, {"pages": 1}, None if status == "ok" else "boom")
        site = {s.name: s for s in store.list_sites(db_url)}["shop"]
        assert site.failure_count == expected and site.last_status == status
    assert site.last_error is None and store.last_runs(db_url)["shop"].status == "ok"


def test_runs_left_running_by_a_dead_process_become_interrupted(db_url):
    dead = store.start_run(db_url, "shop", pid=2**22 + 12345)  # no such process
    alive = store.start_run(db_url, "shop", pid=os.getppid())
    store.start_run(db_url, "shop")
    with session_scope(db_url) as s:
        states = {r.id: (r.status, r.error) for r in s.scalars(select(CrawlRunRow))}
    assert states[dead.id][0] == "interrupted" and "without recording" in states[dead.id][1]
    assert states[alive.id][0] == "running"


def test_same_content_is_one_image_with_several_occurrences(db_url):
    run = store.start_run(db_url, "shop")
    page = store.PageVisit("http://shop/1", "One", 200)
    out = store.record_page(db_url, run.site_id, run.id, page, [
        _sighting("http://shop/a.jpg", SHA_A),
        _sighting("http://cdn/a-copy.jpg", SHA_A),
        _sighting("http://shop/small.jpg", SHA_B, primary=False),  # unknown smaller rendition
    ])
    assert len(out.new_image_ids) == 1 and out.skipped_alternates == 1
    again = store.record_page(db_url, run.site_id, run.id, store.PageVisit("http://shop/2"), [
        _sighting("http://shop/a.jpg", SHA_A),
    ])
    assert again.new_image_ids == set() and again.seen_image_ids == out.new_image_ids
    with session_scope(db_url) as s:
        assert [(i.sha256, i.status) for i in s.scalars(select(WebImageRow))] == [(SHA_A, "pending")]
        occ = s.scalars(select(ImageOccurrenceRow)).all()
        assert {(o.page_url, o.image_url) for o in occ} == {
            ("http://shop/1", "http://shop/a.jpg"), ("http://shop/1", "http://cdn/a-copy.jpg"),
            ("http://shop/2", "http://shop/a.jpg"),
        }
        assert all(o.crawl_run_id == run.id and o.site_id == run.site_id for o in occ)


def test_validators_and_304_refresh_last_seen_only(db_url):
    run = store.start_run(db_url, "shop")
    page = store.PageVisit("http://shop/1", "One", 200)
    store.record_page(db_url, run.site_id, run.id, page, [_sighting("http://shop/a.jpg", SHA_A)],
                      failures=[store.ImageFailure("http://shop/x.jpg", "http_404", "HTTP 404", 404)],
                      skips=[store.ImageSkip("http://shop/px.gif", "tracking_pixel", '"p"')])
    known = store.validators_for(db_url, ["http://shop/a.jpg", "http://shop/x.jpg", "http://shop/px.gif"])
    assert known["http://shop/a.jpg"].etag == '"e1"' and known["http://shop/a.jpg"].usable_for(True)
    assert "http://shop/x.jpg" not in known, "a failed URL is downloaded again next time"
    assert known["http://shop/px.gif"].skipped and known["http://shop/px.gif"].usable_for(True)
    with session_scope(db_url) as s:
        first = s.scalar(select(ImageOccurrenceRow)).last_seen
        failed = s.scalar(select(FetchedUrlRow).where(FetchedUrlRow.url == "http://shop/x.jpg"))
        assert failed.last_error == "http_404: HTTP 404" and failed.last_status == 404
    run2 = store.start_run(db_url, "shop")
    out = store.record_page(db_url, run.site_id, run2.id, page,
                            [store.ImageSighting("http://shop/a.jpg", "alt", http_status=304)])
    assert out.new_image_ids == set() and len(out.seen_image_ids) == 1
    with session_scope(db_url) as s:
        occ = s.scalar(select(ImageOccurrenceRow))
        fetched = s.scalar(select(FetchedUrlRow).where(FetchedUrlRow.url == "http://shop/a.jpg"))
        assert occ.last_seen > first and occ.crawl_run_id == run2.id
        assert fetched.etag == '"e1"' and fetched.last_status == 304
