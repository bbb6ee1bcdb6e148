"""The daemon behind ``navee-monitor run``.

Threads of the one process:

- main: signals, systemd notifications (READY, WATCHDOG, RELOADING,
  STOPPING), SIGHUP reloads, shutdown;
- APScheduler's pool: one thread per running crawl, each supervising a
  crawl child process (:mod:`navee_monitor.service.crawl_jobs`);
- matcher: ``match_pending`` every ``daemon.match_interval_s`` and right
  after each crawl (the TensorFlow model stays loaded in this process);
- notifier: writes the outbox for finished, fully matched runs and sends it
  (:mod:`navee_monitor.service.notify`), so a dead webhook never slows matching.

SIGTERM/SIGINT: scheduling stops, crawls are stopped and marked
``interrupted``, the matching batch in progress finishes (within
``daemon.grace_period_s``), exit status 0. Crash safety comes from the
database: a batch of images is marked matched in the transaction that records
its alerts, so after a ``kill -9`` the restarted daemon re-matches what was
pending and re-crawls sites whose crawl was interrupted.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from navee_monitor.errors import ConfigError, NaveeError
from navee_monitor.service.crawl_jobs import DEFAULT_TARGET, CrawlSupervisor
from navee_monitor.service.notify import Outbox, build_sinks, site_failing_batch
from navee_monitor.service.scheduler import SiteScheduler, backoff_delay
from navee_monitor.procs import pid_alive
from navee_monitor.settings import Settings, load_settings
from navee_monitor.store import db
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import utcnow

log = logging.getLogger(__name__)

MatchFn = Callable[..., int]


def _default_match(settings: Settings, stop: threading.Event) -> int:
    from navee_monitor.matching.worker import match_pending

    return match_pending(settings, stop=stop)


class Daemon:
    """``Daemon(settings, config_path, overrides).run()`` returns the exit status."""

    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        *,
        crawl_target: str = DEFAULT_TARGET,
        match: Callable[[Settings, threading.Event], int] = _default_match,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.overrides = dict(overrides or {})
        self.stopping = threading.Event()
        self._wake_main = threading.Event()
        self._wake_matcher = threading.Event()
        self._wake_notifier = threading.Event()
        self._reload_requested = False
        self._lock = threading.Lock()  # guards self.settings / self._outbox swaps
        self._match = match
        self._supervisor = CrawlSupervisor(self.stopping, crawl_target)
        self._scheduler = SiteScheduler(settings.daemon, self._scheduled_crawl, self._write_next_run)
        self._outbox = Outbox(settings, build_sinks(settings))
        self._demo_server = None
        self._demo_sites: list = []
        self._threads: list[threading.Thread] = []
        self._active = threading.Condition()
        self._active_crawls: set[str] = set()
        from sdnotify import SystemdNotifier

        self._systemd = SystemdNotifier()

    # ---- entry -----------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()  # a SIGTERM during a slow start still ends with status 0
        started = threading.Event()
        threading.Thread(target=self._ping_while_starting, args=(started,), name="startup-watchdog",
                         daemon=True).start()
        try:
            self._start()
        finally:
            started.set()
        try:
            self._main_loop()
        finally:
            self._shutdown()
        return 0

    def _ping_while_starting(self, started: threading.Event) -> None:
        # loading models or building the demo can outlast WatchdogSec: keep systemd informed
        while not started.wait(self.settings.daemon.watchdog_interval_s):
            self._systemd.notify("WATCHDOG=1")

    def _start(self) -> None:
        url = self.settings.database_url
        db.ensure_schema(url)
        with session_scope(url) as s:
            orphans = store.interrupt_orphan_runs(s, pid_alive)
        if orphans:
            log.warning("crawl runs %s were left running by a stopped daemon: marked interrupted",
                        ", ".join(map(str, orphans)), extra={"event": "runs_interrupted"})
        self._maybe_start_demo()
        self._scheduler.start()
        self._apply_sites(self.settings)
        if not self.settings.notifications.urls:
            log.info("notifications: no URL configured (notifications.urls); new alerts are recorded, not sent")
        for name, target in (("matcher", self._matcher_loop), ("notifier", self._notifier_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self._systemd.notify("READY=1\nSTATUS=watching %d site(s)" % len(self._scheduler.sites()))
        log.info("daemon ready: %d site(s) scheduled (%s)", len(self._scheduler.sites()),
                 ", ".join(self._scheduler.sites()) or "none", extra={"event": "daemon_ready", "pid": os.getpid()})

    def _main_loop(self) -> None:
        interval = self.settings.daemon.watchdog_interval_s
        while not self.stopping.is_set():
            self._wake_main.wait(timeout=interval)
            self._wake_main.clear()
            if self.stopping.is_set():
                break
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
            self._scheduler.publish_next_runs()
            # the watchdog only hears from a main loop that still turns
            self._systemd.notify("WATCHDOG=1")

    # ---- signals -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop_signal(self, signum, _frame) -> None:
        if self.stopping.is_set():
            return
        log.info("received %s: stopping", signal.Signals(signum).name, extra={"event": "daemon_stopping"})
        self.request_stop()

    def _on_hup(self, _signum, _frame) -> None:
        self._reload_requested = True
        self._wake_main.set()

    def request_stop(self) -> None:
        self.stopping.set()
        for ev in (self._wake_main, self._wake_matcher, self._wake_notifier):
            ev.set()

    # ---- configuration -------------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the configuration file; keep the running one when the new one is invalid."""
        self._systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            try:
                new = load_settings(self.config_path, overrides=self.overrides, use_default_file=False)
                sinks = build_sinks(new)
            except ConfigError as exc:
                log.error("reload refused, keeping the running configuration: %s", exc,
                          extra={"event": "reload_failed"})
                return False
            if new.database_url != self.settings.database_url or new.data_dir != self.settings.data_dir:
                log.error("reload refused: data_dir/database.url cannot change while running (restart the service)",
                          extra={"event": "reload_failed"})
                return False
            if not new.sites and self._demo_sites:
                new = new.model_copy(update={"sites": self._demo_sites})
            with self._lock:
                self.settings = new
                self._outbox = Outbox(new, sinks)
            report = self._apply_sites(new)
            log.info("configuration reloaded from %s: %d site(s); added %s, removed %s, changed %s",
                     self.config_path or "defaults", len(self._scheduler.sites()),
                     report.added or "none", report.removed or "none", report.changed or "none",
                     extra={"event": "reloaded", "added": ",".join(report.added),
                            "removed": ",".join(report.removed)})
            return True
        finally:
            self._systemd.notify("READY=1\nSTATUS=watching %d site(s)" % len(self._scheduler.sites()))

    def _apply_sites(self, settings: Settings):
        url = settings.database_url
        with session_scope(url) as s:
            store.sync_sites(s, [(site.name, site.enabled) for site in settings.sites])
            last_runs = {site.name: store.last_completed_run_at(s, site.name) for site in settings.sites}
        report = self._scheduler.apply(settings.sites, last_runs, settings.daemon)
        self._scheduler.publish_next_runs()
        return report

    def _write_next_run(self, name: str, when: datetime | None) -> None:
        with session_scope(self.settings.database_url) as s:
            store.set_next_run(s, name, when)

    def _maybe_start_demo(self) -> None:
        """``daemon.demo_when_empty``: with no site configured, watch the built-in demo gallery."""
        if self.settings.sites or not self.settings.daemon.demo_when_empty:
            return
        try:
            from navee_monitor.demo.gallery import demo_site_settings
        except ImportError as exc:
            log.info("no site configured and the demo gallery is unavailable (%s): nothing to crawl", exc)
            return
        try:
            settings, server = demo_site_settings(self.settings)
        except Exception as exc:  # the demo is optional: the daemon runs on without it
            log.error("no site configured and the demo gallery could not start: %s: %s",
                      exc.__class__.__name__, exc, exc_info=not isinstance(exc, NaveeError))
            return
        self.settings, self._demo_server, self._demo_sites = settings, server, list(settings.sites)

    # ---- jobs ---------------------------------------------------------------------------
    def _scheduled_crawl(self, name: str) -> None:
        """APScheduler job: one crawl of ``name`` unless the site is backed off."""
        if self.stopping.is_set():
            return
        settings = self.settings
        try:
            settings.site(name)
        except ConfigError:
            return  # removed by a reload a moment ago
        try:
            with session_scope(settings.database_url) as s:
                site = store.get_site(s, name)
            if site is not None and site.failure_count > 0 and site.last_run_at is not None:
                delay = backoff_delay(site.failure_count, settings.daemon)
                until = store.aware(site.last_run_at) + timedelta(seconds=delay)
                if utcnow() < until:
                    log.info("crawl of %s skipped: backing off after %d failure(s) until %s", name,
                             site.failure_count, until.isoformat(timespec="seconds"),
                             extra={"event": "crawl_backoff", "site": name})
                    return
            with self._active:
                self._active_crawls.add(name)
            try:
                outcome = self._supervisor.run(settings, name)
            finally:
                with self._active:
                    self._active_crawls.discard(name)
                    self._active.notify_all()
            self._wake_matcher.set()
            if outcome.status in ("failed", "timeout"):
                self._after_failure(settings, name)
        except Exception:  # one site's trouble never stops the others (or the scheduler)
            log.exception("crawl job of %s failed", name)

    def _after_failure(self, settings: Settings, name: str) -> None:
        with session_scope(settings.database_url) as s:
            site = store.get_site(s, name)
        if site is None:
            return
        threshold = settings.daemon.failure_alert_threshold
        if site.failure_count == threshold:
            log.warning("site %s has failed %d times in a row (last error: %s); backing off", name,
                        site.failure_count, site.last_error,
                        extra={"event": "site_failing", "site": name, "failures": site.failure_count})
            self._outbox.add(site_failing_batch(name, site.failure_count, site.last_error))
            self._wake_notifier.set()

    def _matcher_loop(self) -> None:
        while not self.stopping.is_set():
            self._wake_matcher.wait(timeout=self.settings.daemon.match_interval_s)
            self._wake_matcher.clear()
            if self.stopping.is_set():
                break
            try:
                with session_scope(self.settings.database_url) as s:
                    pending = store.image_counts(s).get("pending", 0)
                if pending:
                    log.info("matching %d pending image(s)", pending, extra={"event": "matching_started",
                                                                             "pending": pending})
                n = self._match(self.settings, self.stopping)
                if n:
                    log.info("matching pass done: %d image(s)", n, extra={"event": "matching_done", "images": n})
            except Exception:  # a broken image or model error is logged; the next pass retries
                log.exception("matching pass failed")
                self.stopping.wait(5)
            self._wake_notifier.set()

    def _notifier_loop(self) -> None:
        while not self.stopping.is_set():
            self._wake_notifier.wait(timeout=min(self.settings.daemon.match_interval_s,
                                                 self.settings.notifications.retry_base_s))
            self._wake_notifier.clear()
            if self.stopping.is_set():
                break
            outbox = self._outbox
            try:
                outbox.write()
                outbox.send_due()
            except Exception:
                log.exception("notification outbox pass failed")
                self.stopping.wait(5)

    # ---- shutdown ---------------------------------------------------------------------------
    def _shutdown(self) -> None:
        self._systemd.notify("STOPPING=1")
        grace = self.settings.daemon.grace_period_s
        deadline = time.monotonic() + grace
        self._scheduler.shutdown()
        # crawl threads see `stopping`, stop their child and mark the run interrupted
        self._supervisor.stop_all(timeout=min(10.0, grace / 2))
        with self._active:
            self._active.wait_for(lambda: not self._active_crawls, timeout=max(0.0, deadline - time.monotonic()))
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("%s thread still busy after the %.0fs grace period: exiting anyway", t.name, grace)
        if self._demo_server is not None:
            self._demo_server.stop()
        log.info("daemon stopped", extra={"event": "daemon_stopped"})
