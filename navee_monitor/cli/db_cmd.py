"""``navee-monitor db upgrade|current``."""

from __future__ import annotations

from navee_monitor.cli.context import AppContext
from navee_monitor.store import db


def register(sub) -> None:
    p = sub.add_parser("db", help="database schema: apply migrations")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply migrations up to the latest schema")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade)
    cur = dsub.add_parser("current", help="print the schema revision of the database")
    cur.set_defaults(handler=current)


def upgrade(ctx: AppContext) -> int:
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.upgrade(ctx.db_url, ctx.args.revision)
    rev = db.current_revision(ctx.db_url)
    print(f"database {_safe(ctx.db_url)} is at revision {rev}")
    return 0


def current(ctx: AppContext) -> int:
    print(db.current_revision(ctx.db_url) or "(empty: run `navee-monitor db upgrade`)")
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
