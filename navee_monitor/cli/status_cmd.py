"""``navee-monitor status [--json]``: sites' last and next runs, queue, alerts, model."""

from __future__ import annotations

import json

from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("status", help="what the daemon did and will do: runs, queue, alerts")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(handler=status)


def status(ctx: AppContext) -> int:
    from navee_monitor.service.status import collect_status, render_text
    from navee_monitor.store import db

    db.ensure_schema(ctx.db_url)
    doc = collect_status(ctx.settings)
    print(json.dumps(doc, indent=2) if ctx.args.json else render_text(doc))
    return 0
