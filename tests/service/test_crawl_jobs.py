"""The crawl supervisor: child processes, time limit, crashes, shutdown, orphaned runs."""

from __future__ import annotations

import threading

import pytest

from navee_monitor.service.crawl_jobs import CrawlSupervisor
from navee_monitor.store import crawl
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope

T = "tests.service.crawl_targets:"


@pytest.fixture
def site_settings(make_settings, db_url):
    return make_settings(sites=[{"name": "shop", "start_urls": ["http://127.0.0.1:9/"]}],
                         crawler={"time_limit_s": 4}, daemon={"grace_period_s": 4})


def _site(settings):
    with session_scope(settings.database_url) as s:
        return store.get_site(s, "shop")


def test_ok_crawl_runs_in_a_child_and_reports_the_run(site_settings):
    out = CrawlSupervisor(threading.Event(), T + "quick_ok").run(site_settings, "shop")
    assert out.status == "ok" and out.exit_code == 0 and out.run_id is not None
    run = crawl.get_run(site_settings.database_url, out.run_id)
    assert run.status == "ok" and run.stats == {"pages": 1}
    assert _site(site_settings).failure_count == 0


def test_time_limit_kills_the_child_and_marks_the_run_timeout(site_settings):
    out = CrawlSupervisor(threading.Event(), T + "hang").run(site_settings, "shop")
    assert out.status == "timeout" and out.run_id is not None
    run = crawl.get_run(site_settings.database_url, out.run_id)
    assert run.status == "timeout" and run.finished_at is not None
    assert "crawler.time_limit_s" in run.error
    site = _site(site_settings)
    assert site.failure_count == 1 and site.last_status == "timeout"


def test_crash_marks_the_run_failed_and_counts_a_failure(site_settings):
    out = CrawlSupervisor(threading.Event(), T + "crash").run(site_settings, "shop")
    assert out.status == "failed" and out.exit_code == 3
    assert crawl.get_run(site_settings.database_url, out.run_id).status == "failed"
    site = _site(site_settings)
    assert site.failure_count == 1 and "status 3" in site.last_error


def test_failure_recorded_by_the_runner_is_not_counted_twice(site_settings):
    out = CrawlSupervisor(threading.Event(), T + "fail_recorded").run(site_settings, "shop")
    assert out.status == "failed" and out.exit_code == 1
    site = _site(site_settings)
    assert site.failure_count == 1 and site.last_error.startswith("http_503")


def test_shutdown_interrupts_the_crawl(site_settings):
    stop = threading.Event()
    sup = CrawlSupervisor(stop, T + "hang")

    def stop_once_running():  # stop the daemon once the child has recorded its run
        while not stop.wait(0.2):
            if crawl.last_runs(site_settings.database_url).get("shop"):
                stop.set()

    threading.Thread(target=stop_once_running, daemon=True).start()
    out = sup.run(site_settings.model_copy(update={"crawler": site_settings.crawler.model_copy(
        update={"time_limit_s": 60})}), "shop")
    assert out.status == "interrupted"
    assert crawl.get_run(site_settings.database_url, out.run_id).status == "interrupted"
    assert _site(site_settings).failure_count == 0  # an interruption is not the site's fault


def test_runs_left_running_by_a_dead_process_are_marked_interrupted(site_settings):
    url = site_settings.database_url
    dead = crawl.start_run(url, "shop", pid=2**22 + 12345)  # beyond pid_max: no such process
    with session_scope(url) as s:
        ids = store.interrupt_orphan_runs(s, lambda pid: pid != 2**22 + 12345)
    assert ids == [dead.id]
    assert crawl.get_run(url, dead.id).status == "interrupted"
