"""Crawl schedules of the watched sites, on APScheduler 3.

One job per enabled site: ``IntervalTrigger`` (``45s``, ``6h``...) with
jitter, or ``CronTrigger.from_crontab``. ``max_instances=1`` keeps one crawl
per site at a time; ``coalesce=True`` turns a pile of missed runs (daemon
busy, machine suspended) into one. Jobs live in memory, so downtime is
handled at start: a site whose next run fell while the daemon was down runs
once, right away (from its last completed crawl in the database).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from navee_monitor.settings import DaemonSettings, SiteSettings, parse_interval
from navee_monitor.store.models import utcnow

log = logging.getLogger(__name__)

JOB_PREFIX = "site:"


def build_trigger(schedule: str, jitter_s: int) -> BaseTrigger:
    """Interval (jitter at most a tenth of it, so short test schedules stay regular) or cron."""
    seconds = parse_interval(schedule)
    if seconds is not None:
        jitter = min(jitter_s, seconds // 10)
        return IntervalTrigger(seconds=seconds, jitter=jitter or None)
    trigger = CronTrigger.from_crontab(schedule)
    trigger.jitter = jitter_s or None
    return trigger


def first_run_time(schedule: str, last_run: datetime | None, now: datetime) -> datetime:
    """When a site's job should first fire after the daemon starts.

    Never crawled: an interval site runs now, a cron site at its next slot.
    Crawled before: at the next scheduled time after that crawl, or now when
    that time passed while the daemon was down (missed runs coalesced to one).
    """
    seconds = parse_interval(schedule)
    if seconds is not None:
        if last_run is None:
            return now
        return max(now, last_run + timedelta(seconds=seconds))
    trigger = CronTrigger.from_crontab(schedule)
    if last_run is None:
        return trigger.get_next_fire_time(None, now)
    nxt = trigger.get_next_fire_time(None, last_run + timedelta(seconds=1))
    return now if nxt is None or nxt <= now else nxt


def backoff_delay(failures: int, daemon: DaemonSettings) -> float:
    """Seconds a site's scheduled runs are skipped after ``failures`` consecutive failures."""
    if failures <= 0 or daemon.backoff_base_s <= 0:
        return 0.0
    return float(min(daemon.max_backoff_s, daemon.backoff_base_s * 2 ** min(failures - 1, 30)))


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class SiteScheduler:
    """The crawl jobs of the enabled sites. ``run_site(name)`` runs in a pool thread."""

    def __init__(
        self,
        daemon: DaemonSettings,
        run_site: Callable[[str], None],
        on_next_run: Callable[[str, datetime | None], None] | None = None,
    ) -> None:
        self._daemon = daemon
        self._run_site = run_site
        self._on_next_run = on_next_run
        self._schedules: dict[str, tuple[str, int]] = {}
        self._published: dict[str, datetime | None] = {}
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(daemon.max_concurrent_crawls)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": daemon.misfire_grace_s},
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing jobs; crawls already running are stopped by the daemon, not waited for here."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # ---- jobs ----------------------------------------------------------------------
    def apply(self, sites: Sequence[SiteSettings], last_runs: Mapping[str, datetime | None],
              daemon: DaemonSettings | None = None) -> SyncReport:
        """Make the jobs match ``sites`` (enabled ones): add, remove, reschedule."""
        if daemon is not None:
            self._daemon = daemon
        jitter = self._daemon.jitter_s
        wanted = {s.name: (s.schedule, jitter) for s in sites if s.enabled}
        report = SyncReport()
        now = utcnow()
        for name in sorted(set(self._schedules) - set(wanted)):
            self._scheduler.remove_job(JOB_PREFIX + name)
            del self._schedules[name]
            report.removed.append(name)
            self._notify_next(name, None)
            self._published.pop(name, None)
        for name, (schedule, jit) in wanted.items():
            old = self._schedules.get(name)
            if old == (schedule, jit):
                continue
            start = first_run_time(schedule, last_runs.get(name), now)
            trigger = build_trigger(schedule, jit)
            if old is None:
                self._scheduler.add_job(self._run_site, trigger, args=[name], id=JOB_PREFIX + name,
                                        name=f"crawl {name}", next_run_time=start)
                report.added.append(name)
            else:
                self._scheduler.modify_job(JOB_PREFIX + name, trigger=trigger, next_run_time=start)
                report.changed.append(name)
            self._schedules[name] = (schedule, jit)
        return report

    def next_run_times(self) -> dict[str, datetime | None]:
        out = {}
        for name in self._schedules:
            job = self._scheduler.get_job(JOB_PREFIX + name)
            out[name] = job.next_run_time if job else None
        return out

    def sites(self) -> list[str]:
        return sorted(self._schedules)

    def publish_next_runs(self) -> None:
        """Hand changed next-run times to ``on_next_run`` (the daemon writes ``sites.next_run_at``)."""
        for name, when in self.next_run_times().items():
            if self._published.get(name, "unset") != when:
                self._notify_next(name, when)

    # ---- events ----------------------------------------------------------------------
    def _notify_next(self, name: str, when: datetime | None) -> None:
        self._published[name] = when
        if self._on_next_run is not None:
            try:
                self._on_next_run(name, when)
            except Exception:  # bookkeeping must never stop the scheduler
                log.exception("cannot record the next run of %s", name)

    def _on_event(self, event) -> None:
        if not event.job_id.startswith(JOB_PREFIX):
            return
        name = event.job_id[len(JOB_PREFIX):]
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("crawl of %s is still running: this scheduled run is skipped", name,
                        extra={"event": "crawl_skipped", "site": name})
        elif event.code == EVENT_JOB_MISSED:
            log.warning("scheduled crawl of %s missed by more than daemon.misfire_grace_s", name,
                        extra={"event": "crawl_missed", "site": name})
