"""Notifications: the sink contract (apprise and in-memory), the outbox, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from navee_monitor.alerts.sink import AlertBatch, AlertSink
from navee_monitor.errors import ConfigError, NotificationError
from navee_monitor.service.notify import AppriseSink, MemorySink, Outbox, build_sinks
from navee_monitor.store import alerts as alert_store
from navee_monitor.store import crawl
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import ReferenceRow, utcnow
from tests.service.webhook import WebhookReceiver

# ---- one contract, every sink -------------------------------------------------------


@pytest.fixture(params=["apprise-json", "memory"])
def sink_case(request):
    """(working sink, what it delivered, failing sink)."""
    if request.param == "memory":
        sink = MemorySink()
        yield sink, lambda: [(b.title, b.body) for b in sink.batches], MemorySink(fail=True)
        return
    with WebhookReceiver() as ok, WebhookReceiver() as bad:
        bad.fail_next = 10**6
        yield AppriseSink(ok.url), lambda: [(b["title"], b["message"]) for b in ok.received()], AppriseSink(bad.url)


def test_sink_contract_delivers_title_and_body(sink_case):
    sink, delivered, _ = sink_case
    assert isinstance(sink, AlertSink)
    sink.send(AlertBatch("3 new alerts on shop", "top: starry-night 0.91", {"site": "shop"}))
    assert delivered() == [("3 new alerts on shop", "top: starry-night 0.91")]


def test_sink_contract_failure_raises_notification_error(sink_case):
    _, delivered, failing = sink_case
    with pytest.raises(NotificationError) as e:
        failing.send(AlertBatch("t", "b"))
    assert failing.name.split("?")[0] in str(e.value)
    assert delivered() == []


def test_unusable_url_is_a_config_error(make_settings):
    with pytest.raises(ConfigError, match="notifications.urls"):
        build_sinks(make_settings(notifications={"urls": ["nonsense-without-scheme"]}))


# ---- outbox -------------------------------------------------------------------------


def _reference(url: str, key: str) -> None:
    with session_scope(url) as s:
        s.add(ReferenceRow(key=key, collection="default", source="folder", source_uri=f"/refs/{key}.jpg", status="ok"))


def _crawl_with_images(url: str, site: str, shas: list[str], status: str = "ok") -> int:
    run = crawl.start_run(url, site)
    sightings = [crawl.ImageSighting(image_url=f"http://{site}.test/img/{sha}.jpg", sha256=sha * 64,
                                     size_bytes=100, storage_path=f"images/{sha}") for sha in shas]
    site_id = crawl.ensure_site(url, site).id
    crawl.record_page(url, site_id, run.id, crawl.PageVisit(url=f"http://{site}.test/page"), sightings)
    crawl.finish_run(url, run.id, status, {"pages": 1}, None)
    return run.id


def _match(url: str, found: dict[str, list[tuple[str, float]]]) -> None:
    """What the matching worker does for each image: alerts + matched, one transaction."""
    with session_scope(url) as s:
        for img in alert_store.pending_images(s, 100):
            drafts = [alert_store.AlertDraft(key, score, "full", None, {}) for key, score in found.get(img.sha256[0], [])]
            alert_store.record_alerts(s, img.id, drafts, model_version="m1")
            alert_store.mark_matched(s, img.id, "m1", alert_store.max_reference_id(s))


@pytest.fixture
def outbox_env(make_settings, db_url):
    with WebhookReceiver() as hook:
        settings = make_settings(notifications={"urls": [hook.url], "retry_base_s": 1, "max_attempts": 3,
                                                "top_matches": 2, "report_url": "http://127.0.0.1:8080/alerts"})
        for key in ("starry-night", "water-lilies", "the-scream"):
            _reference(db_url, key)
        yield settings, hook


def test_a_run_is_announced_once_all_its_images_are_matched(outbox_env):
    settings, hook = outbox_env
    url = settings.database_url
    run_id = _crawl_with_images(url, "shop", ["a", "b", "c"])
    outbox = Outbox(settings, build_sinks(settings))
    assert outbox.write() == []  # images still pending: not yet
    _match(url, {"a": [("starry-night", 0.91), ("the-scream", 0.6)], "b": [("water-lilies", 0.7)]})
    [note_id] = outbox.write()
    assert outbox.write() == []  # written once
    assert outbox.send_due() == 1
    [body] = hook.received()
    assert body["title"] == "navee-monitor: 3 new alerts on shop"
    assert "starry-night  score 0.91" in body["message"] and "water-lilies  score 0.70" in body["message"]
    assert "... and 1 more" in body["message"] and "http://127.0.0.1:8080/alerts" in body["message"]
    with session_scope(url) as s:
        note = store.get_notification(s, note_id)
    assert note.crawl_run_id == run_id and note.sent_at is not None and note.payload["new_alerts"] == 3
    assert outbox.send_due() == 0 and len(hook.received()) == 1  # never sent twice


def test_alerts_seen_in_two_runs_are_announced_once(outbox_env):
    settings, hook = outbox_env
    url = settings.database_url
    _crawl_with_images(url, "shop", ["a"])
    _crawl_with_images(url, "shop", ["a", "b"])  # image a again, on the same page
    _crawl_with_images(url, "market", ["a"])  # and on another site
    _match(url, {"a": [("starry-night", 0.9)], "b": [("the-scream", 0.8)]})
    outbox = Outbox(settings, build_sinks(settings))
    outbox.write()
    outbox.send_due()
    announced = [line for b in hook.received() for line in b["message"].splitlines() if "score" in line]
    assert sorted(line.split()[1] for line in announced) == ["starry-night", "the-scream"]


def test_retroactive_alerts_get_their_own_notification(outbox_env):
    settings, hook = outbox_env
    url = settings.database_url
    _crawl_with_images(url, "shop", ["a"])
    _match(url, {})
    outbox = Outbox(settings, build_sinks(settings))
    outbox.write()  # the run had no alert: nothing to announce
    assert outbox.send_due() == 0
    _reference(url, "new-ref")  # a reference added later matches the old image
    with session_scope(url) as s:
        img = alert_store.images_behind(s, alert_store.max_reference_id(s), 10)[0][0]
        alert_store.record_alerts(s, img.id, [alert_store.AlertDraft("new-ref", 0.8, "crop", [1, 2, 3, 4], {})],
                                  model_version="m1")
    outbox.write()
    outbox.send_due()
    [body] = hook.received()
    assert "already crawled images" in body["title"] and "new-ref" in body["message"]


def test_failing_webhook_is_retried_with_backoff_then_delivered(outbox_env):
    settings, hook = outbox_env
    url = settings.database_url
    _crawl_with_images(url, "shop", ["a"])
    _match(url, {"a": [("starry-night", 0.9)]})
    outbox = Outbox(settings, build_sinks(settings))
    [note_id] = outbox.write()
    hook.fail_next = 1
    assert outbox.send_due() == 0
    with session_scope(url) as s:
        note = store.get_notification(s, note_id)
    assert note.attempts == 1 and note.sent_at is None and "127.0.0.1" in note.last_error
    assert store.aware(note.next_attempt_at) > utcnow()
    assert outbox.send_due() == 0  # backing off: not tried again yet
    assert hook.attempts == 1
    assert outbox.send_due(now=utcnow() + timedelta(seconds=2)) == 1
    assert len(hook.received()) == 1 and hook.attempts == 2
    with session_scope(url) as s:
        assert store.get_notification(s, note_id).sent_at is not None


def test_retry_does_not_repeat_delivery_to_the_working_sink(outbox_env):
    settings, hook = outbox_env
    url = settings.database_url
    _crawl_with_images(url, "shop", ["a"])
    _match(url, {"a": [("starry-night", 0.9)]})
    dead = MemorySink("memory://dead", fail=True)
    outbox = Outbox(settings, [*build_sinks(settings), dead])
    outbox.write()
    later = utcnow()
    for _ in range(3):  # max_attempts
        later += timedelta(hours=2)
        outbox.send_due(now=later)
    assert len(hook.received()) == 1  # delivered once, though the other sink failed 3 times
    with session_scope(url) as s:
        [note] = store.list_notifications(s)
        counts = store.notification_counts(s, settings.notifications.max_attempts)
    assert note.attempts == 3 and note.sent_at is None and "memory://dead" in note.last_error
    assert counts == {"sent": 0, "pending": 0, "failed": 1}
    assert outbox.send_due(now=later + timedelta(days=1)) == 0  # given up


def test_without_urls_notifications_are_recorded_not_sent(make_settings, db_url):
    settings = make_settings()
    _reference(db_url, "starry-night")
    _crawl_with_images(db_url, "shop", ["a"])
    _match(db_url, {"a": [("starry-night", 0.9)]})
    outbox = Outbox(settings, build_sinks(settings))
    assert len(outbox.write()) == 1
    outbox.send_due()
    with session_scope(db_url) as s:
        [note] = store.list_notifications(s)
    assert note.sent_at is None and "no notification URL" in note.last_error
