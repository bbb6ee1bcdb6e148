"""``navee-monitor sites list|validate``: the watched sites, their last crawl, their health."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import StorageError
from navee_monitor.settings import Settings, SiteSettings

#: robots.txt bodies larger than this are not read (they are hostile or broken)
ROBOTS_MAX_BYTES = 512 * 1024


def register(sub) -> None:
    p = sub.add_parser("sites", help="list or validate the watched sites")
    ssub = p.add_subparsers(dest="sites_command", metavar="ACTION", required=True)
    ls = ssub.add_parser("list", help="configured sites with their last crawl")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_sites)
    va = ssub.add_parser(
        "validate",
        help="check each site's configuration and that its start URLs answer "
        "(exit 2: configuration problem, 3: a start URL does not answer)",
    )
    va.add_argument("names", nargs="*", metavar="SITE", help="only these sites (default: all)")
    va.add_argument("--offline", action="store_true", help="check the configuration only, no network")
    va.set_defaults(handler=validate_sites)


# ---- list ------------------------------------------------------------------------------


def _db_state(ctx: AppContext):
    """(sites by name, last runs by name), empty when the database is not migrated yet."""
    from navee_monitor.store import crawl as store
    from navee_monitor.store import db

    try:
        db.ensure_schema(ctx.db_url)
    except StorageError:
        return {}, {}
    return {s.name: s for s in store.list_sites(ctx.db_url)}, store.last_runs(ctx.db_url)


def list_sites(ctx: AppContext) -> int:
    rows_by_name, runs = _db_state(ctx)
    out = []
    for site in ctx.settings.sites:
        row, run = rows_by_name.get(site.name), runs.get(site.name)
        out.append({
            "name": site.name,
            "schedule": site.schedule,
            "enabled": site.enabled,
            "start_urls": site.start_urls,
            "render_js": site.render_js,
            "last_run_at": row.last_run_at.isoformat() if row and row.last_run_at else None,
            "last_status": row.last_status if row else None,
            "last_error": row.last_error if row else None,
            "failure_count": row.failure_count if row else 0,
            "last_run": {"id": run.id, "status": run.status, "stats": run.stats} if run else None,
        })
    if ctx.args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not out:
        print("no site configured (add entries under sites: in config.yaml)")
        return 0
    print(f"{'NAME':<20} {'SCHEDULE':<12} {'ENABLED':<8} {'LAST RUN':<20} {'STATUS':<12} ERROR")
    for r in out:
        last = (r["last_run_at"] or "never")[:19].replace("T", " ")
        status = r["last_status"] or "-"
        if r["failure_count"]:
            status += f" x{r['failure_count']}"
        error = (r["last_error"] or "").splitlines()[0][:80] if r["last_error"] else ""
        print(f"{r['name']:<20} {r['schedule']:<12} {'yes' if r['enabled'] else 'no':<8} {last:<20} {status:<12} {error}")
    return 0


# ---- validate --------------------------------------------------------------------------


def config_problems(settings: Settings, site: SiteSettings) -> list[str]:
    """What would make the site's crawl useless, found without the network."""
    problems = []
    if site.render_js and not os.access(settings.crawler.chromium_path, os.X_OK):
        problems.append(
            f"render_js: true but crawler.chromium_path ({settings.crawler.chromium_path}) is not "
            "an executable browser (apt-get install chromium)"
        )
    domains = site.allowed_domains
    for url in site.start_urls:
        host = (urlsplit(url).hostname or "").lower()
        if not any(host == d.lower() or host.endswith("." + d.lower()) for d in domains):
            problems.append(f"start URL {url} is outside allowed_domains {domains}: no link of it would be followed")
    return problems


def url_problem(settings: Settings, site: SiteSettings, url: str) -> str | None:
    """None when ``url`` resolves and answers (and robots.txt lets us in), else why not."""
    parts = urlsplit(url)
    timeout = settings.crawler.timeout_s
    try:
        socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        return f"{url}: host {parts.hostname} does not resolve ({exc.strerror or exc})"
    headers = {"User-Agent": settings.crawler.user_agent}
    if site.obey_robots:
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        body = _get(robots_url, headers, timeout, ROBOTS_MAX_BYTES, missing_ok=True)
        if isinstance(body, bytes):
            from scrapy.robotstxt import ProtegoRobotParser  # the parser the crawl obeys

            if not ProtegoRobotParser(body, None).allowed(url, settings.crawler.user_agent):
                return f"{url}: robots.txt disallows it for our user agent (set obey_robots: false only with permission)"
    answer = _get(url, headers, timeout, 64 * 1024)
    return answer if isinstance(answer, str) else None


def _get(url: str, headers: dict, timeout: float, limit: int, missing_ok: bool = False) -> bytes | str | None:
    """Body (at most ``limit`` bytes), None for a tolerated 4xx, or an error message."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - http(s) only (validated)
            return resp.read(limit)
    except urllib.error.HTTPError as exc:
        if missing_ok and 400 <= exc.code < 500:
            return None
        return f"{url}: HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url}: does not answer ({reason})"


def validate_sites(ctx: AppContext) -> int:
    settings = ctx.settings
    sites = [settings.site(n) for n in ctx.args.names] if ctx.args.names else list(settings.sites)
    if not sites:
        print("no site configured: nothing to validate")
        return 0
    config_bad = network_bad = False
    for site in sites:
        problems = config_problems(settings, site)
        config_bad = config_bad or bool(problems)
        unreachable = []
        if not ctx.args.offline:
            unreachable = [p for p in (url_problem(settings, site, u) for u in site.start_urls) if p]
            network_bad = network_bad or bool(unreachable)
        state = "OK" if not problems and not unreachable else "PROBLEM"
        print(f"{site.name}: {state}")
        for p in problems:
            print(f"  config: {p}")
        for p in unreachable:
            print(f"  unreachable: {p}")
    if config_bad:
        return 2
    return 3 if network_bad else 0
