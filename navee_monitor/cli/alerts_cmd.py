"""``navee-monitor alerts list|show|confirm|dismiss|reopen|allow|rules``.

Status changes take alert IDs, or filter options plus ``--yes`` for a bulk
change (without ``--yes`` the selection is listed and nothing changes).
``allow`` needs ``--domain D`` (repeatable) or ``--all-domains-of-alert``:
allowing a reference on a domain is a licensing decision, so it is never
guessed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import UsageError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def register(sub) -> None:
    p = sub.add_parser("alerts", help="review alerts: list, show, confirm, dismiss, allow")
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    ls = asub.add_parser("list", help="list alerts (most recently seen first)")
    add_filter_arguments(ls)
    ls.add_argument("--limit", type=int, metavar="N", help="at most N alerts")
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(handler=list_alerts)

    show = asub.add_parser("show", help="one alert: occurrences, scores, evidence paths, history")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_alert)

    for action, text in (("confirm", "confirm alerts (a real copy)"), ("dismiss", "dismiss alerts (not a copy)"),
                         ("reopen", "set alerts back to new"),
                         ("allow", "allow alerts: licensed use of the reference on a domain (no new alerts there)")):
        ap = asub.add_parser(action, help=text)
        ap.add_argument("ids", nargs="*", type=int, metavar="ID")
        ap.add_argument("--note", help="kept in the alert's history")
        if action == "allow":
            where = ap.add_mutually_exclusive_group(required=True)
            where.add_argument("--domain", action="append", metavar="DOMAIN",
                               help="allowed domain (subdomains included); repeatable")
            where.add_argument("--all-domains-of-alert", action="store_true",
                               help="allow on every domain where the alert's image was seen")
        add_filter_arguments(ap, bulk=True, domain_flag="--on-domain" if action == "allow" else "--domain")
        ap.add_argument("--yes", action="store_true", help="apply a bulk change selected by filters")
        ap.set_defaults(handler=change_status, action=action)

    rules = asub.add_parser("rules", help="list allow rules (reference x domain)")
    rules.add_argument("--json", action="store_true")
    rules.set_defaults(handler=list_rules)


def add_filter_arguments(p: argparse.ArgumentParser, bulk: bool = False, domain_flag: str = "--domain") -> None:
    g = p.add_argument_group("filters" + (" (bulk change: instead of IDs, with --yes)" if bulk else ""))
    g.add_argument("--status", action="append", metavar="S",
                   help="new, confirmed, dismissed, allowed or all; repeatable or comma-separated")
    g.add_argument("--site", metavar="NAME", help="seen on this configured site")
    g.add_argument(domain_flag, dest="filter_domain", metavar="DOMAIN",
                   help="seen on a page of this domain (subdomains included)")
    g.add_argument("--reference", metavar="KEY", help="copies of this reference")
    g.add_argument("--min-score", type=float, metavar="X")
    g.add_argument("--max-score", type=float, metavar="X")
    g.add_argument("--since", metavar="DATE", help="first seen on/after DATE (2026-11-20, ISO time, or 7d, 12h)")


def filter_from_args(args: argparse.Namespace, ids=(), limit=None):
    from navee_monitor.alerts.review import AlertFilter, parse_since, parse_statuses

    return AlertFilter(
        statuses=parse_statuses(args.status), site=args.site, domain=args.filter_domain, reference=args.reference,
        min_score=args.min_score, max_score=args.max_score,
        since=parse_since(args.since) if args.since else None, ids=tuple(ids), limit=limit,
    )


def clean(text: object) -> str:
    """Crawled text for a terminal: control characters (escape sequences) removed."""
    return _CONTROL.sub("", "" if text is None else str(text))


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in some containers
        return "cli"


# ---- handlers -------------------------------------------------------------------


def list_alerts(ctx: AppContext) -> int:
    from navee_monitor.alerts import review

    if ctx.args.limit is not None and ctx.args.limit < 0:
        raise UsageError("--limit must be >= 0")
    alerts = review.list_alerts(ctx.settings, filter_from_args(ctx.args, limit=ctx.args.limit))
    if ctx.args.json:
        json.dump([review.alert_json(r) for r in alerts], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    if not alerts:
        print("no alerts")
        return 0
    rows = [("ID", "STATUS", "SCORE", "METHOD", "REFERENCE", "SITE", "DOMAIN", "LAST SEEN", "SEEN", "PAGE")]
    for r in alerts:
        j = review.alert_json(r)
        rows.append((str(j["id"]), j["status"], f"{j['score']:.3f}", j["method"], clean(j["reference"]),
                     clean(j["site"] or "-"), clean(j["domain"] or "-"), (j["last_seen"] or "")[:16].replace("T", " "),
                     str(j["occurrences"]), clean(j["page_url"] or "-")))
    _print_table(rows)
    return 0


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(r, widths, strict=False)]
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + r[-1])


def show_alert(ctx: AppContext) -> int:
    from navee_monitor.alerts import review

    r = review.get_alert(ctx.settings, ctx.args.id)
    d = review.alert_detail_json(ctx.settings, r)
    if ctx.args.json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
        return 0
    print(f"alert {d['id']}: {d['status']}, score {d['score']:.3f} ({d['method']}), reference {clean(d['reference'])}")
    print(f"  bbox:        {d['bbox'] or 'whole image'}")
    print(f"  first seen:  {d['first_seen']}    last seen: {d['last_seen']}")
    if d["model_version"]:
        print(f"  model:       {clean(d['model_version'])}")
    print("  evidence:")
    for label, path in d["evidence"].items():
        print(f"    {label + ':':17}{path or '-'}")
    print(f"  occurrences ({d['occurrences']}):")
    for o in d["occurrence_list"]:
        print(f"    - page:  {clean(o['page_url'])}" + (f"  ({clean(o['page_title'])})" if o["page_title"] else ""))
        print(f"      image: {clean(o['image_url'])}")
        if o["alt_text"]:
            print(f"      alt:   {clean(o['alt_text'])}")
        print(f"      site {clean(o['site'] or '-')}, seen {o['first_seen']} .. {o['last_seen']}")
    print("  history:")
    for e in d["history"]:
        note = f": {clean(e['note'])}" if e["note"] else ""
        print(f"    {e['at']}  {e['old_status'] or '-'} -> {e['new_status']}  ({clean(e['actor'] or '?')}){note}")
    return 0


def _has_filters(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) not in (None, []) for k in
               ("status", "site", "filter_domain", "reference", "min_score", "max_score", "since"))


def change_status(ctx: AppContext) -> int:
    from navee_monitor.alerts import review

    args = ctx.args
    ids = list(args.ids)
    if ids and _has_filters(args):
        raise UsageError("give alert IDs or filter options, not both")
    if not ids:
        if not _has_filters(args):
            raise UsageError(f"alerts {args.action}: give alert IDs, or filter options with --yes for a bulk change")
        ids = review.select_ids(ctx.settings, filter_from_args(args))
        if not ids:
            print("no alert matches these filters")
            return 0
        if not args.yes:
            print(f"{len(ids)} alert(s) match: {' '.join(map(str, ids))}")
            raise UsageError(f"nothing changed: add --yes to {args.action} these {len(ids)} alert(s)")
    domains = None
    if args.action == "allow" and not args.all_domains_of_alert:
        domains = args.domain
    result = review.apply_action(ctx.settings, args.action, ids, note=args.note, actor=actor(), domains=domains)
    for rule in result.rules:
        print(f"allow rule: {clean(rule.reference_key)} on {rule.domain} (and its subdomains)")
    for c in result.changes:
        if c.changed:
            print(f"alert {c.alert_id}: {c.old_status} -> {c.new_status}")
        else:
            print(f"alert {c.alert_id}: already {c.new_status}" + (" (note added)" if args.note else ""))
    return 0


def list_rules(ctx: AppContext) -> int:
    from navee_monitor.alerts import review

    rules = review.allow_rules(ctx.settings)
    if ctx.args.json:
        print(json.dumps([{"reference": r.reference_key, "domain": r.domain, "note": r.note,
                           "created_at": review.iso(r.created_at)} for r in rules], indent=2))
        return 0
    if not rules:
        print("no allow rules")
    for r in rules:
        print(f"{clean(r.reference_key)}  {r.domain}  {review.iso(r.created_at)}" + (f"  {clean(r.note)}" if r.note else ""))
    return 0
