"""Crawl entry points run by the supervisor's child processes in tests.

They write crawl runs through the same store functions as the real crawler
runner (``navee_monitor.store.crawl``), so the supervisor's reconciliation is
exercised on real rows; what they do not do is fetch anything.
"""

from __future__ import annotations

import os
import time

from navee_monitor.store import crawl


def quick_ok(settings, site_name: str) -> int:
    run = crawl.start_run(settings.database_url, site_name)
    crawl.finish_run(settings.database_url, run.id, "ok", {"pages": 1}, None)
    return run.id


def hang(settings, site_name: str) -> int:
    crawl.start_run(settings.database_url, site_name)
    time.sleep(3600)
    return 0


def crash(settings, site_name: str) -> int:
    crawl.start_run(settings.database_url, site_name)
    os._exit(3)


def fail_recorded(settings, site_name: str) -> int:
    run = crawl.start_run(settings.database_url, site_name)
    crawl.finish_run(settings.database_url, run.id, "failed", {}, "http_503: start URL unavailable")
    raise RuntimeError("start URL unavailable")


def slow_ok(settings, site_name: str) -> int:
    run = crawl.start_run(settings.database_url, site_name)
    time.sleep(1.5)
    crawl.finish_run(settings.database_url, run.id, "ok", {"pages": 2}, None)
    return run.id
