"""Notifications: alert sinks (apprise, in-memory) and the outbox that feeds them.

The outbox is the ``notifications`` table. When a finished crawl run's images
are all matched, one entry is written for the run's new alerts, and those
alerts are claimed (``alerts.notification_id``) in the same transaction: an
alert is announced once, whatever crashes. Sending is separate: each entry is
delivered to every sink, a failing sink is retried with exponential backoff
and never blocks matching. Delivery is at-least-once: a crash between a
successful send and recording it repeats that one message.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from navee_monitor.alerts.sink import AlertBatch, AlertSink
from navee_monitor.errors import ConfigError, NotificationError
from navee_monitor.settings import Settings
from navee_monitor.store import service as store
from navee_monitor.store.db import session_scope
from navee_monitor.store.models import utcnow

log = logging.getLogger(__name__)


# ---- sinks -----------------------------------------------------------------------


class AppriseSink:
    """Delivers a batch to one apprise URL (mailto://, slack://, discord://, json://...)."""

    def __init__(self, url: str) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ConfigError(
                f"notifications.urls: '{_redact(url)}' is not a notification URL apprise understands "
                "(see https://github.com/caronc/apprise/wiki)"
            )
        service = next(iter(self._apprise))
        #: the URL with secrets hidden, for logs and the outbox's delivery record
        self.name = service.url(privacy=True)
        self.id = hashlib.sha256(url.encode()).hexdigest()[:12]

    def send(self, batch: AlertBatch) -> None:
        import apprise

        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = self._apprise.notify(title=batch.title, body=batch.body)
        if not ok:
            reason = " ".join(captured.getvalue().split()) or "delivery failed"
            raise NotificationError(f"{self.name}: {reason}")


class MemorySink:
    """Keeps batches in a list (tests, dry runs); ``fail`` makes ``send`` raise like a dead notifier."""

    def __init__(self, name: str = "memory://", fail: bool = False) -> None:
        self.name = name
        self.id = hashlib.sha256(name.encode()).hexdigest()[:12]
        self.fail = fail
        self.batches: list[AlertBatch] = []
        self._lock = threading.Lock()

    def send(self, batch: AlertBatch) -> None:
        if self.fail:
            raise NotificationError(f"{self.name}: delivery failed (sink set to fail)")
        with self._lock:
            self.batches.append(batch)


def build_sinks(settings: Settings) -> list[AlertSink]:
    """One sink per configured URL; ConfigError names a URL apprise cannot use."""
    return [AppriseSink(url) for url in settings.notifications.urls]


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://..." if sep else "<not a URL>"


# ---- what a notification says -------------------------------------------------------


def _report_hint(settings: Settings) -> str:
    if settings.notifications.report_url:
        return settings.notifications.report_url
    return f"navee-monitor alerts list --status new (reports: {settings.path('reports')})"


def run_batch(settings: Settings, run: store.ReadyRun, alerts: Sequence[store.AlertLine]) -> AlertBatch:
    top = list(alerts[: settings.notifications.top_matches])
    n = len(alerts)
    title = f"navee-monitor: {n} new alert{'s' if n != 1 else ''} on {run.site}"
    lines = [
        f"Crawl run {run.id} of site {run.site} ({run.status}, started {run.started_at:%Y-%m-%d %H:%M} UTC): "
        f"{n} new alert{'s' if n != 1 else ''}.",
        "",
        "Top matches:",
    ]
    for a in top:
        lines.append(f"- {a.reference_key}  score {a.score:.2f} ({a.method})  {a.page_url or a.image_url or ''}")
    if n > len(top):
        lines.append(f"- ... and {n - len(top)} more")
    lines += ["", f"Review: {_report_hint(settings)}"]
    payload = {
        "kind": "crawl_run",
        "site": run.site,
        "crawl_run_id": run.id,
        "run_status": run.status,
        "new_alerts": n,
        "top_matches": [
            {"alert_id": a.alert_id, "reference": a.reference_key, "score": round(a.score, 4), "method": a.method,
             "page_url": a.page_url, "image_url": a.image_url, "thumbnail": a.thumbnail_path}
            for a in top
        ],
        "report": _report_hint(settings),
    }
    return AlertBatch(title=title, body="\n".join(lines), payload=payload)


def retro_batch(settings: Settings, alerts: Sequence[store.AlertLine]) -> AlertBatch:
    run = store.ReadyRun(id=0, site="(already crawled images)", status="ok", started_at=utcnow(), finished_at=None, stats={})
    batch = run_batch(settings, run, alerts)
    n = len(alerts)
    title = f"navee-monitor: {n} new alert{'s' if n != 1 else ''} on already crawled images"
    body = batch.body.split("\n", 1)[1]
    body = f"Images crawled earlier match newly added references: {n} new alert{'s' if n != 1 else ''}.\n{body}"
    payload = {**batch.payload, "kind": "retroactive", "site": None, "crawl_run_id": None}
    return AlertBatch(title=title, body=body, payload=payload)


def site_failing_batch(site: str, failures: int, error: str | None) -> AlertBatch:
    title = f"navee-monitor: site {site} failed {failures} times in a row"
    body = (f"The crawls of site {site} have failed {failures} times in a row; it is backed off.\n"
            f"Last error: {error or 'unknown'}\nCheck it with: navee-monitor status")
    return AlertBatch(title=title, body=body, payload={"kind": "site_failing", "site": site, "failures": failures,
                                                       "error": error})


# ---- outbox --------------------------------------------------------------------------


class Outbox:
    """Writes outbox entries for finished runs and sends due entries to the sinks.

    ``write()`` and ``send_due()`` are plain functions of the database; the
    daemon calls them from its notifier thread.
    """

    def __init__(self, settings: Settings, sinks: Sequence[AlertSink]) -> None:
        self.settings = settings
        self.sinks = list(sinks)
        self.failures = 0  # failed deliveries since start (status, logs)

    @property
    def url(self) -> str:
        return self.settings.database_url

    def write(self) -> list[int]:
        """Entries for every finished run whose images are all matched; returns their ids."""
        created: list[int] = []
        with session_scope(self.url) as s:
            runs = store.runs_ready_to_announce(s)
        for run in runs:
            # one transaction per run: entry + claimed alerts + run marked announced
            with session_scope(self.url) as s:
                alerts = store.unannounced_alerts_of_run(s, run.id)
                if alerts:
                    batch = run_batch(self.settings, run, alerts)
                    created.append(store.add_notification(s, batch.title, batch.body, batch.payload, run.id,
                                                          [a.alert_id for a in alerts]))
                store.mark_run_announced(s, run.id)
            if alerts:
                log.info("notification %d queued: %d new alerts of crawl run %d (%s)", created[-1], len(alerts),
                         run.id, run.site, extra={"event": "notification_queued", "site": run.site,
                                                  "crawl_run_id": run.id, "alerts": len(alerts)})
        with session_scope(self.url) as s:
            retro = store.unannounced_alerts_without_open_run(s)
            if retro:
                batch = retro_batch(self.settings, retro)
                created.append(store.add_notification(s, batch.title, batch.body, batch.payload, None,
                                                      [a.alert_id for a in retro]))
        if retro:
            log.info("notification %d queued: %d new alerts on already crawled images", created[-1], len(retro),
                     extra={"event": "notification_queued", "alerts": len(retro)})
        return created

    def add(self, batch: AlertBatch) -> int:
        """Queue an operator message (a site failing, for instance)."""
        with session_scope(self.url) as s:
            return store.add_notification(s, batch.title, batch.body, batch.payload)

    def send_due(self, now: datetime | None = None) -> int:
        """Try every due entry once; returns how many were completely delivered."""
        n_sent = 0
        cfg = self.settings.notifications
        with session_scope(self.url) as s:
            due = store.due_notifications(s, cfg.max_attempts, now)
        for note in due:
            if not self.sinks:
                # nothing to deliver to: keep the entry as a record, never retried
                with session_scope(self.url) as s:
                    store.give_up_notification(s, note.id, cfg.max_attempts,
                                               "no notification URL configured (notifications.urls)")
                continue
            delivered = set(note.payload.get("delivered", []))
            errors = []
            for sink in self.sinks:
                if sink.id in delivered:
                    continue  # a retry does not repeat what already reached this sink
                try:
                    sink.send(AlertBatch(note.title, note.body, note.payload))
                    delivered.add(sink.id)
                except NotificationError as exc:
                    errors.append(str(exc))
                except Exception as exc:  # a notifier bug must not stop the others
                    log.exception("notifier %s crashed", sink.name)
                    errors.append(f"{sink.name}: {exc.__class__.__name__}: {exc}")
            attempts = note.attempts + 1
            if errors:
                self.failures += 1
                give_up = attempts >= cfg.max_attempts
                delay = min(cfg.retry_max_s, cfg.retry_base_s * 2 ** (attempts - 1))
                nxt = None if give_up else utcnow() + timedelta(seconds=delay)
                with session_scope(self.url) as s:
                    store.record_attempt(s, note.id, sent=False, error="; ".join(errors), next_attempt_at=nxt,
                                         delivered=list(delivered), give_up=give_up)
                if give_up:
                    log.error("notification %d given up after %d attempts: %s", note.id, attempts, "; ".join(errors),
                              extra={"event": "notification_given_up", "notification_id": note.id})
                else:
                    log.warning("notification %d not delivered (attempt %d of %d), retry in %.0fs: %s", note.id,
                                attempts, cfg.max_attempts, delay, "; ".join(errors),
                                extra={"event": "notification_failed", "notification_id": note.id})
            else:
                with session_scope(self.url) as s:
                    store.record_attempt(s, note.id, sent=True, error=None, next_attempt_at=None,
                                         delivered=list(delivered))
                n_sent += 1
                log.info("notification %d sent to %d notifier(s)", note.id, len(self.sinks),
                         extra={"event": "notification_sent", "notification_id": note.id})
        return n_sent
