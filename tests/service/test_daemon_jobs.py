"""The daemon's crawl job: failure counts, backoff, the operator warning; status output."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from navee_monitor.service.daemon import Daemon
from navee_monitor.service.status import collect_status, render_text
from navee_monitor.store import crawl
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope

T = "tests.service.crawl_targets:"


def _daemon(make_settings, target, **daemon):
    settings = make_settings(sites=[{"name": "shop", "start_urls": ["http://127.0.0.1:9/"], "schedule": "1h"}],
                             daemon={"failure_alert_threshold": 2, **daemon})
    with session_scope(settings.database_url) as s:
        store.sync_sites(s, [("shop", True)])
    return Daemon(settings, crawl_target=T + target, match=lambda s, stop: 0), settings


def _epoch():
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)


def test_failures_are_counted_warned_about_once_and_backed_off(make_settings, db_url, caplog):
    caplog.set_level(logging.INFO, logger="navee_monitor.service")
    d, settings = _daemon(make_settings, "crash", backoff_base_s=0)
    d._scheduled_crawl("shop")
    d._scheduled_crawl("shop")  # reaches failure_alert_threshold=2: warning + notification
    d._scheduled_crawl("shop")  # past it: no second warning
    with session_scope(db_url) as s:
        site = store.get_site(s, "shop")
        notes = store.list_notifications(s)
    assert site.failure_count == 3 and "exited with status 3" in site.last_error
    assert [n.payload["kind"] for n in notes] == ["site_failing"]
    assert "site shop failed 2 times" in notes[0].title
    assert sum("has failed 2 times in a row" in r.getMessage() for r in caplog.records) == 1
    # now in backoff: the next scheduled run is skipped without starting a crawl
    d2, _ = _daemon(make_settings, "crash", backoff_base_s=3600)
    d2._scheduled_crawl("shop")
    with session_scope(db_url) as s:
        assert len(store.runs_of_child(s, "shop", None, _epoch())) == 3
    assert any("backing off after 3 failure(s)" in r.getMessage() for r in caplog.records)


def test_a_success_resets_the_failure_count(make_settings, db_url):
    d, settings = _daemon(make_settings, "crash", backoff_base_s=0)
    d._scheduled_crawl("shop")
    d2, _ = _daemon(make_settings, "quick_ok", backoff_base_s=0)
    d2._scheduled_crawl("shop")
    with session_scope(db_url) as s:
        site = store.get_site(s, "shop")
    assert site.failure_count == 0 and site.last_status == "ok"


def test_status_reports_sites_queue_alerts_and_next_run(make_settings, db_url, tmp_path):
    settings = make_settings(sites=[{"name": "shop", "start_urls": ["http://127.0.0.1:9/"], "schedule": "6h"},
                                    {"name": "off", "start_urls": ["http://127.0.0.1:9/"], "enabled": False}])
    with session_scope(db_url) as s:
        store.sync_sites(s, [("shop", True), ("off", False)])
    run = crawl.start_run(db_url, "shop")
    crawl.finish_run(db_url, run.id, "ok", {"pages": 3, "images": 5}, None)
    from datetime import UTC, datetime

    with session_scope(db_url) as s:
        store.set_next_run(s, "shop", datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    doc = collect_status(settings)
    shop, off = doc["sites"]
    assert shop["name"] == "shop" and shop["enabled"] and shop["schedule"] == "6h"
    assert shop["last_run"]["status"] == "ok" and shop["last_run"]["stats"] == {"pages": 3, "images": 5}
    assert shop["next_run"] == "2026-11-28T03:00:00+00:00" and shop["failure_count"] == 0
    assert off["enabled"] is False and off["last_run"] is None and off["next_run"] is None
    assert doc["queue"] == {"pending": 0, "error": 0, "matched": 0}
    assert doc["alerts"]["new"] == 0 and doc["model_version"] is None
    text = render_text(doc)
    assert "site shop (enabled, schedule 6h)" in text and "pages 3, images 5" in text

    # the command itself, as a script would call it
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {settings.data_dir}\nsites:\n  - name: shop\n    start_urls: [http://127.0.0.1:9/]\n")
    r = subprocess.run([sys.executable, "-m", "navee_monitor", "--config", str(cfg), "status", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"sites", "queue", "alerts", "model_version"}
    assert set(out["sites"][0]) >= {"name", "enabled", "schedule", "last_run", "next_run", "failure_count",
                                    "last_error"}
    assert set(out["sites"][0]["last_run"]) >= {"started_at", "finished_at", "status", "stats", "error"}
