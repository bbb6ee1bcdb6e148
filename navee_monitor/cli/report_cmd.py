"""``navee-monitor report --format html|csv|json [--out PATH] [--since DATE] [--status S] ...``.

Without ``--out``, the HTML report is written to
``<data_dir>/reports/navee-report-<time>.html`` (its path is printed) and CSV
or JSON go to standard output; ``--out -`` always means standard output.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from navee_monitor.cli.alerts_cmd import add_filter_arguments, filter_from_args
from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("report", help="write a report of alerts (self-contained HTML, CSV or JSON)")
    p.add_argument("--format", choices=["html", "csv", "json"], default="html")
    p.add_argument("--out", metavar="PATH", help="output file ('-' = standard output)")
    add_filter_arguments(p)
    p.set_defaults(handler=report)


def report(ctx: AppContext) -> int:
    from navee_monitor.reports import default_report_path, render_report, write_atomically

    args = ctx.args
    now = datetime.now(UTC)
    text = render_report(ctx.settings, args.format, filter_from_args(args), now=now)
    out = args.out
    if out is None and args.format != "html":
        out = "-"
    if out == "-":
        sys.stdout.write(text)
        return 0
    path = Path(out) if out else default_report_path(ctx.settings, args.format, now)
    write_atomically(path, text)
    print(f"report written to {path}")
    return 0
