"""One crawl = one child process.

Twisted's reactor cannot be restarted inside a process, so every crawl runs
``navee_crawler.runner.crawl_site(settings, site)`` in a fresh ``spawn``
child. The spider closes itself after ``crawler.time_limit_s``; the parent
kills a child that hangs past that (SIGTERM, then SIGKILL) and reconciles the crawl-run rows the child could not
close itself: ``timeout`` when the time limit killed it, ``interrupted`` when
the daemon stopped it, ``failed`` when it crashed. The runner owns the
site's ``last_*``/``failure_count`` columns; the parent writes them only when
the runner was killed before it could.

The child dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a
parent-watch thread elsewhere): a ``kill -9`` of the daemon never leaves a
crawl running unsupervised, and the restarted daemon marks its run
``interrupted``.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from navee_monitor.settings import Settings
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import utcnow

log = logging.getLogger(__name__)

#: the crawl entry point, imported in the child only (the parent never imports Scrapy)
DEFAULT_TARGET = "navee_crawler.runner:crawl_site"
#: after SIGTERM, how long a crawl child may take to close its spider
TERMINATE_WAIT_S = 10.0
#: the child is killed this long (at most) after crawler.time_limit_s
HARD_LIMIT_SLACK_S = 30


@dataclass(frozen=True)
class CrawlOutcome:
    site: str
    #: ok | failed | timeout | interrupted (the run's final state as recorded)
    status: str
    run_id: int | None
    exit_code: int | None
    duration_s: float
    error: str | None = None


# ---- in the child ------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(target: str, settings: Settings, site_name: str, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    from navee_monitor.logging_setup import configure_logging

    configure_logging(settings.logging.level, settings.logging.format, stream=sys.stdout)
    module_name, _, func_name = target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        run_id = func(settings, site_name)
    except Exception as exc:  # recorded by the runner when it could; the exit code tells the parent
        logging.getLogger(__name__).error("crawl of %s failed: %s: %s", site_name, exc.__class__.__name__, exc,
                                          exc_info=settings.logging.level == "debug")
        sys.stdout.flush()
        os._exit(1)
    logging.getLogger(__name__).debug("crawl of %s finished (run %s)", site_name, run_id)
    sys.stdout.flush()
    os._exit(0)


# ---- in the parent -----------------------------------------------------------------


class CrawlSupervisor:
    """Starts crawl children and waits for them; ``stop`` is the daemon's shutdown event."""

    def __init__(self, stop: threading.Event, target: str = DEFAULT_TARGET) -> None:
        self._stop = stop
        self._target = target
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._children: dict[str, multiprocessing.process.BaseProcess] = {}

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._children)

    def run(self, settings: Settings, site_name: str) -> CrawlOutcome:
        """Crawl ``site_name`` in a child process and wait for it (blocking)."""
        # started_at is recorded by the child after this; allow for clock granularity
        since = utcnow() - timedelta(seconds=1)
        t0 = time.monotonic()
        proc = self._ctx.Process(
            target=_child_main, args=(self._target, settings, site_name, os.getpid()), name=f"crawl-{site_name}"
        )
        with self._lock:
            if site_name in self._children:  # APScheduler's max_instances=1 already prevents this
                raise RuntimeError(f"a crawl of {site_name} is already running")
            proc.start()
            self._children[site_name] = proc
        log.info("crawl of %s started (pid %d)", site_name, proc.pid,
                 extra={"event": "crawl_started", "site": site_name, "pid": proc.pid})
        # the spider closes itself at time_limit_s (status timeout); the parent's deadline
        # is the backstop for a child that hangs past it
        limit = settings.crawler.time_limit_s + min(HARD_LIMIT_SLACK_S, settings.crawler.time_limit_s)
        cut: str | None = None
        try:
            while proc.is_alive():
                proc.join(timeout=0.5)
                if not proc.is_alive():
                    break
                if self._stop.is_set():
                    cut = "interrupted"
                elif time.monotonic() - t0 > limit:
                    cut = "timeout"
                if cut:
                    self._terminate(proc, site_name, min(TERMINATE_WAIT_S, settings.daemon.grace_period_s / 2))
                    break
        finally:
            with self._lock:
                self._children.pop(site_name, None)
        outcome = self._reconcile(settings, site_name, proc.pid, proc.exitcode, since, cut, time.monotonic() - t0)
        level = logging.INFO if outcome.status == "ok" else logging.WARNING
        log.log(level, "crawl of %s ended: %s in %.1fs%s", site_name, outcome.status, outcome.duration_s,
                f" ({outcome.error})" if outcome.error else "",
                extra={"event": "crawl_finished", "site": site_name, "status": outcome.status,
                       "crawl_run_id": outcome.run_id})
        return outcome

    @staticmethod
    def _terminate(proc, site_name: str, wait_s: float) -> None:
        proc.terminate()  # Scrapy closes the spider on SIGTERM
        proc.join(wait_s)
        if proc.is_alive():
            log.warning("crawl of %s did not stop within %.0fs of SIGTERM: killing it", site_name, wait_s)
            proc.kill()
            proc.join(5)

    def _reconcile(self, settings: Settings, site: str, pid: int | None, exit_code: int | None, since,
                   cut: str | None, duration: float) -> CrawlOutcome:
        url = settings.database_url
        with session_scope(url) as s:
            runs = store.runs_of_child(s, site, pid, since)
            if cut:
                reason = ("stopped by the daemon's shutdown" if cut == "interrupted"
                          else f"time limit of {settings.crawler.time_limit_s}s reached (crawler.time_limit_s)")
                # an 'ok' written while the spider was being closed is not a complete crawl either
                changed = [r.id for r in runs if store.end_run(s, r.id, cut, reason, only_from=("running", "ok"))]
                if cut == "timeout" and (changed or not runs):
                    store.record_site_failure(s, site, "timeout", reason)
                return CrawlOutcome(site, cut, runs[-1].id if runs else None, exit_code, duration, reason)
            if exit_code != 0:
                reason = f"the crawl process exited with status {exit_code}"
                if exit_code is not None and exit_code < 0:
                    reason = f"the crawl process was killed by signal {-exit_code}"
                open_runs = [r for r in runs if r.status == "running"]
                for r in open_runs:
                    store.end_run(s, r.id, "failed", reason)
                if open_runs or not runs:  # the runner could not record the failure itself
                    store.record_site_failure(s, site, "failed", reason)
                    return CrawlOutcome(site, "failed", runs[-1].id if runs else None, exit_code, duration, reason)
            if not runs:
                return CrawlOutcome(site, "failed", None, exit_code, duration, "the crawl recorded no run")
            last = runs[-1]
            # refreshed state, as the runner wrote it
            fresh = store.runs_of_child(s, site, pid, since)[-1]
            return CrawlOutcome(site, fresh.status, last.id, exit_code, duration, fresh.error)

    def stop_all(self, timeout: float) -> None:
        """Terminate every running crawl child (the supervising threads mark their runs)."""
        with self._lock:
            procs = list(self._children.items())
        for _, proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + timeout
        for name, proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("crawl of %s still running at shutdown: killing it", name)
                proc.kill()
