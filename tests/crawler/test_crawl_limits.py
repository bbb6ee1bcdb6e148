"""Page budget, include patterns, and a site that cannot be reached."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from navee_crawler.runner import crawl_site_in_subprocess
from navee_monitor.store import crawl as store
from navee_monitor.store import db
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import SiteRow
from tests.crawler.conftest import build_settings

pytestmark = pytest.mark.timeout(300)


def _pages(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(".html") or p == "/"]


def test_max_pages_and_include_patterns_bound_the_crawl(test_site, tmp_path):
    sites = [{
        "name": "limited", "start_urls": [test_site.url("/gallery/page1.html")],
        "max_depth": 10, "max_pages": 2, "include": ["^http://[^/]+/gallery/"],
    }]
    settings = build_settings(tmp_path / "data", sites)
    settings.data_dir.mkdir(parents=True)
    db.upgrade(settings.database_url)
    before = test_site.request_count()
    try:
        run = store.get_run(settings.database_url, crawl_site_in_subprocess(settings, "limited", timeout=120))
    finally:
        db.dispose_engines()
    assert run.status == "ok"
    assert _pages(test_site.requested(before)) == ["/gallery/page1.html", "/gallery/page2.html"]
    assert run.stats["pages"] == 2 and run.stats["skipped"]["page_budget"] >= 1
    assert run.stats["images"] == run.stats["new_images"] == 2  # based.jpg, deep2.jpg


def test_unreachable_site_is_a_failed_run_with_the_reason(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sites = [{"name": "down", "start_urls": [f"http://127.0.0.1:{port}/"]}]
    settings = build_settings(tmp_path / "data", sites, retries=0)
    settings.data_dir.mkdir(parents=True)
    db.upgrade(settings.database_url)
    try:
        run = store.get_run(settings.database_url, crawl_site_in_subprocess(settings, "down", timeout=120))
        with session_scope(settings.database_url) as s:
            site = s.scalar(select(SiteRow).where(SiteRow.name == "down"))
            state = (site.last_status, site.failure_count, site.last_error)
    finally:
        db.dispose_engines()
    assert run.status == "failed" and "connection_refused" in run.error
    assert run.stats["pages"] == 0 and run.stats["page_errors"]
    assert state == ("failed", 1, run.error)
