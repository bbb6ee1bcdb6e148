"""Schedules: triggers, catch-up after downtime, backoff, one crawl per site at a time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from navee_monitor.service.scheduler import SiteScheduler, backoff_delay, build_trigger, first_run_time
from navee_monitor.settings import DaemonSettings, SiteSettings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _site(name, schedule="2s", enabled=True):
    return SiteSettings(name=name, start_urls=["http://127.0.0.1:9/"], schedule=schedule, enabled=enabled)


def test_interval_trigger_jitter_is_at_most_a_tenth_of_the_interval():
    t = build_trigger("6h", 60)
    assert isinstance(t, IntervalTrigger) and t.interval == timedelta(hours=6) and t.jitter == 60
    assert build_trigger("2s", 60).jitter is None
    assert build_trigger("100s", 60).jitter == 10


def test_cron_trigger_from_crontab_with_jitter():
    t = build_trigger("0 3 * * *", 30)
    assert isinstance(t, CronTrigger) and t.jitter == 30
    fire = t.get_next_fire_time(None, datetime(2026, 11, 27, 1, 0, tzinfo=t.timezone))
    assert (fire.hour, fire.minute) == (3, 0)


def test_first_run_of_an_interval_site():
    assert first_run_time("6h", None, NOW) == NOW  # never crawled: now
    assert first_run_time("6h", NOW - timedelta(hours=1), NOW) == NOW + timedelta(hours=5)
    # down for two days: the missed runs collapse into one, now
    assert first_run_time("6h", NOW - timedelta(days=2), NOW) == NOW


def test_first_run_of_a_cron_site():
    tz = CronTrigger.from_crontab("0 3 * * *").timezone
    now = datetime(2026, 11, 27, 12, 0, tzinfo=tz)
    nxt = first_run_time("0 3 * * *", None, now)
    assert nxt > now and (nxt.hour, nxt.minute) == (3, 0)
    # ran at 03:00 today: next is tomorrow 03:00
    assert first_run_time("0 3 * * *", now - timedelta(hours=8, minutes=59), now) == now + timedelta(hours=15)
    # last ran at 02:59 today: today's 03:00 was missed while down, it runs now
    assert first_run_time("0 3 * * *", now - timedelta(hours=9, minutes=1), now) == now
    assert first_run_time("0 3 * * *", now - timedelta(days=1, hours=9), now) == now  # missed today's 03:00


def test_backoff_doubles_and_is_capped():
    d = DaemonSettings(backoff_base_s=60, max_backoff_s=300)
    assert [backoff_delay(n, d) for n in range(6)] == [0, 60, 120, 240, 300, 300]
    assert backoff_delay(10**6, d) == 300


class _Recorder:
    def __init__(self, hold: float = 0.0):
        self.calls: list[tuple[str, float]] = []
        self.active: dict[str, int] = {}
        self.max_parallel_per_site = 0
        self.hold = hold
        self.lock = threading.Lock()

    def __call__(self, name: str) -> None:
        with self.lock:
            self.calls.append((name, time.monotonic()))
            self.active[name] = self.active.get(name, 0) + 1
            self.max_parallel_per_site = max(self.max_parallel_per_site, self.active[name])
        time.sleep(self.hold)
        with self.lock:
            self.active[name] -= 1

    def names(self) -> list[str]:
        with self.lock:
            return [n for n, _ in self.calls]


def _wait(pred, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_jobs_fire_on_schedule_and_follow_config_changes():
    rec = _Recorder()
    published: dict[str, datetime | None] = {}
    sched = SiteScheduler(DaemonSettings(jitter_s=0), rec, lambda n, w: published.__setitem__(n, w))
    sched.start()
    try:
        report = sched.apply([_site("a", "1s"), _site("off", "1s", enabled=False)], {})
        assert report.added == ["a"] and sched.sites() == ["a"]
        assert _wait(lambda: rec.names().count("a") >= 2)  # first run at once, then every second
        sched.publish_next_runs()
        assert published["a"] is not None
        # add b, remove a, reschedule nothing else
        report = sched.apply([_site("b", "1s")], {"b": None})
        assert report.added == ["b"] and report.removed == ["a"] and published["a"] is None
        n_a = rec.names().count("a")
        assert _wait(lambda: rec.names().count("b") >= 1)
        time.sleep(1.5)
        assert rec.names().count("a") == n_a
        report = sched.apply([_site("b", "1h")], {"b": datetime.now(UTC)})
        assert report.changed == ["b"]
        assert sched.next_run_times()["b"] > datetime.now(UTC) + timedelta(minutes=50)
    finally:
        sched.shutdown()


def test_a_slow_crawl_is_never_run_twice_at_once():
    rec = _Recorder(hold=2.5)
    sched = SiteScheduler(DaemonSettings(jitter_s=0, max_concurrent_crawls=4), rec)
    sched.start()
    try:
        sched.apply([_site("slow", "1s")], {})
        time.sleep(4.5)
    finally:
        sched.shutdown()
    assert rec.max_parallel_per_site == 1
    assert 1 <= rec.names().count("slow") <= 3
