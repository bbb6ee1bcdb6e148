"""``navee-monitor crawl SITE [--once] [--no-match] [--json]``: one crawl now, in the foreground."""

from __future__ import annotations

import json
import logging

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import NaveeError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("crawl", help="crawl one watched site now (then match its new images)")
    p.add_argument("site", metavar="SITE", help="a site name from the sites: section")
    p.add_argument("--once", action="store_true",
                   help="one crawl in the foreground (the only mode; accepted for scripts)")
    p.add_argument("--no-match", action="store_true",
                   help="only crawl: leave new images pending for the daemon's matching worker")
    p.add_argument("--json", action="store_true", help="print the run as one JSON object")
    p.set_defaults(handler=crawl)


def crawl(ctx: AppContext) -> int:
    from navee_crawler.runner import crawl_site
    from navee_monitor.store import crawl as store

    settings = ctx.settings
    site = settings.site(ctx.args.site)  # ConfigError (exit 2) for an unknown name
    with ctx.session():  # refuses an unmigrated database with advice
        pass
    if not site.enabled:
        log.info("site %s is disabled in the configuration; crawling it because you asked", site.name)
    run_id = crawl_site(settings, site.name)
    run = store.get_run(ctx.db_url, run_id)

    matched, alerts, new_alerts, match_error = None, None, None, None
    if not ctx.args.no_match and run.status != "failed":
        try:
            matched = _match(settings)
        except NaveeError as exc:
            match_error = str(exc)
        if matched is not None:
            alerts = store.count_run_alerts(ctx.db_url, run_id)
            new_alerts = store.count_run_alerts(ctx.db_url, run_id, since=run.started_at)

    if ctx.args.json:
        print(json.dumps({
            "run_id": run.id, "site": site.name, "status": run.status, "error": run.error,
            "stats": run.stats, "matched": matched, "alerts": alerts, "new_alerts": new_alerts,
            "match_error": match_error,
        }, indent=2, default=str))
    else:
        _print_summary(site.name, run, matched, alerts, new_alerts, match_error, ctx.args.no_match)
    if run.status == "interrupted":
        return 130
    if run.status == "failed" or match_error:
        return 1
    return 0


def _match(settings) -> int | None:
    """Match pending images when the matching stage is installed; None when it is not."""
    try:
        from navee_monitor.matching.worker import match_pending
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("navee_monitor.matching"):
            log.warning("matching is not available in this installation: new images stay pending")
            return None
        raise
    return match_pending(settings)


def _print_summary(name, run, matched, alerts, new_alerts, match_error, no_match) -> None:
    s = run.stats or {}
    errors = s.get("errors") or {}
    skipped = s.get("skipped") or {}
    print(f"crawl of {name}: {run.status} (run {run.id}, {s.get('duration_s', 0):.1f}s)")
    if run.error:
        print(f"  error: {run.error}")
    print(f"  pages: {s.get('pages', 0)} crawled, {s.get('pages_failed', 0)} failed")
    print(
        f"  images: {s.get('images', 0)} seen, {s.get('new_images', 0)} new, "
        f"{s.get('unchanged_images', 0)} unchanged (304), {s.get('image_urls', 0)} image URLs"
    )
    print("  errors: " + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"))
    if skipped:
        print("  skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    if no_match:
        print("  matching: skipped (--no-match); new images are pending")
    elif match_error:
        print(f"  matching failed: {match_error}")
    elif matched is None:
        print("  matching: not available; new images are pending")
    else:
        print(f"  matching: {matched} image(s) matched; alerts: {alerts} on this crawl's images ({new_alerts} new)")
