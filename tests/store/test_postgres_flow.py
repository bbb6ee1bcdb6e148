"""The storage code paths of a crawl, alerts and review run on PostgreSQL too (not only SQLite)."""

import os

import pytest
from sqlalchemy import select

from navee_monitor.store import alert_review, alerts, crawl, db
from navee_monitor.store.alerts import AlertDraft
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import ReferenceRow


@pytest.fixture
def pg_url():
    url = os.environ.get("NAVEE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("NAVEE_TEST_POSTGRES_URL must be set in CI (scripts/test.sh starts PostgreSQL)")
        pytest.skip("NAVEE_TEST_POSTGRES_URL not set (a PostgreSQL server to test on)")
    if db.current_revision(url):
        db.downgrade(url, "base")
    db.upgrade(url)
    yield url
    db.downgrade(url, "base")
    db.dispose_engines()


@pytest.mark.postgres
def test_crawl_alert_review_flow_on_postgres(pg_url):
    with session_scope(pg_url) as s:
        s.add(ReferenceRow(key="ref-1", collection="c", source="folder", source_uri="/x/ref-1.jpg", status="ok",
                           labels={"media_oilpaint": "positive"}))
    run = crawl.start_run(pg_url, "shop")
    sighting = crawl.ImageSighting("https://shop.example/i.jpg", "alt", sha256="ab" * 32, size_bytes=10, width=100,
                                   height=80, storage_path="images/ab/" + "ab" * 32, etag='"e1"')
    out = crawl.record_page(pg_url, run.site_id, run.id, crawl.PageVisit("https://shop.example/p", "t", 200), [sighting])
    again = crawl.record_page(pg_url, run.site_id, run.id, crawl.PageVisit("https://shop.example/q", "t", 200), [sighting])
    assert out.new_image_ids and not again.new_image_ids  # same content: an occurrence, not a new image
    crawl.finish_run(pg_url, run.id, "ok", {"pages": 2}, None)
    [image_id] = out.new_image_ids
    assert crawl.validators_for(pg_url, ["https://shop.example/i.jpg"])["https://shop.example/i.jpg"].etag == '"e1"'
    with session_scope(pg_url) as s:
        [pending] = alerts.pending_images(s, 10)
        created = alerts.record_alerts(s, pending.id, [AlertDraft("ref-1", 0.9, "crop", [1, 2, 3, 4], {})],
                                       model_version="m1")
        alerts.mark_matched(s, pending.id, "m1", alerts.max_reference_id(s))
        assert alerts.record_alerts(s, pending.id, [AlertDraft("ref-1", 0.95, "full", None, {})], model_version="m1") == []
    with session_scope(pg_url) as s:
        [reviewed] = alert_review.list_alerts(s)
        assert reviewed.alert.id == created[0] and reviewed.alert.score == 0.95
        assert len(reviewed.alert.occurrences) == 2
        alert_review.set_status(s, created, "confirmed", note="checked")
    with session_scope(pg_url) as s:
        assert alert_review.get_alert(s, created[0]).alert.status == "confirmed"
        assert s.scalar(select(ReferenceRow.labels)) == {"media_oilpaint": "positive"}
