"""``navee-monitor demo``: see the product work in a few minutes, offline.

One real cycle through the daemon's own code: references ingested, the demo
gallery crawled by Scrapy in a child process (the daemon's crawl
supervisor), pending images matched by the matching worker, alerts recorded,
the HTML report written. It works in its own data directory.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from navee_monitor.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    data_dir: Path
    report_path: Path
    gallery_url: str
    crawl_status: str
    alerts: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def found(self) -> set[str]:
        return {a["reference"] for a in self.alerts}


def demo_settings(base: Settings, data_dir: Path) -> Settings:
    """The user's settings (detector paths, thresholds...) with the demo's own data and database."""
    return base.model_copy(update={
        "data_dir": data_dir,
        "database": base.database.model_copy(update={"url": ""}),
        "sites": [],
        "notifications": base.notifications.model_copy(update={"urls": []}),
    })


def run_demo(base: Settings, data_dir: Path, say=print) -> DemoResult:
    from navee_monitor.demo.gallery import PLANTED, GalleryServer, build_gallery, demo_site
    from navee_monitor.matching.worker import match_pending
    from navee_monitor.references.ingest import add_references
    from navee_monitor.reports import render_report, write_atomically
    from navee_monitor.service.crawl_jobs import CrawlSupervisor
    from navee_monitor.store import db

    t0 = time.monotonic()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = demo_settings(base, data_dir)
    say(f"[1/5] preparing {data_dir} (database, demo images from scikit-image)")
    db.upgrade(settings.database_url)
    gallery = build_gallery(data_dir / "demo")

    say("[2/5] adding 5 reference artworks (first run converts the EfficientNet-Lite0 weights)")
    add_references(settings, [str(gallery.references_dir)], collection="demo", progress=False)

    server = GalleryServer(gallery).start()
    try:
        site = demo_site(server.url)
        settings = settings.model_copy(update={"sites": [site]})
        say(f"[3/5] crawling the demo gallery at {server.url} with Scrapy (the daemon's crawl supervisor)")
        outcome = CrawlSupervisor(threading.Event()).run(settings, site.name)
    finally:
        server.stop()
    say(f"      crawl {outcome.status} in {outcome.duration_s:.1f}s")

    say("[4/5] matching the crawled images (whole images and crops)")
    match_pending(settings)

    say("[5/5] writing the HTML report")
    report = settings.path("reports", "demo-report.html")
    write_atomically(report, render_report(settings, "html"))
    alerts = _alerts(settings)
    db.dispose_engines()
    result = DemoResult(data_dir, report, server.url, outcome.status, alerts, time.monotonic() - t0)
    planted = {ref for ref, _ in PLANTED.values()}
    say("")
    say(f"Alerts found ({len(alerts)}):")
    for a in alerts:
        say(f"  #{a['id']} {a['reference']:<18} score {a['score']:.2f}  {a['method']:<4}  {a['image_url']}")
    missed = planted - result.found
    false = result.found - planted
    say(f"\nPlanted copies found: {len(planted & result.found)}/{len(planted)}"
        + (f" (missed: {', '.join(sorted(missed))})" if missed else "")
        + (f"; false alerts: {', '.join(sorted(false))}" if false else "; no false alert") + ".")
    say(f"HTML report: {report}")
    say(f"Done in {result.seconds:.0f}s. Try next:")
    say(f"  navee-monitor --data-dir {data_dir} alerts list")
    say(f"  navee-monitor --data-dir {data_dir} web        # then open http://127.0.0.1:8080/")
    say("  edit config.yaml (sites:, references) and run `navee-monitor run`")
    return result


def _alerts(settings: Settings) -> list[dict]:
    from sqlalchemy import select

    from navee_monitor.store.db import session_scope
    from navee_monitor.store.models import AlertRow, ImageOccurrenceRow, ReferenceRow

    with session_scope(settings.database_url) as s:
        rows = s.execute(
            select(AlertRow.id, ReferenceRow.key, AlertRow.score, AlertRow.method, AlertRow.web_image_id)
            .join(ReferenceRow, ReferenceRow.id == AlertRow.reference_id).order_by(AlertRow.id)
        ).all()
        out = []
        for alert_id, key, score, method, image_id in rows:
            url = s.scalar(select(ImageOccurrenceRow.image_url).where(ImageOccurrenceRow.web_image_id == image_id)
                           .order_by(ImageOccurrenceRow.id).limit(1))
            out.append({"id": alert_id, "reference": key, "score": score, "method": method, "image_url": url})
    return out
