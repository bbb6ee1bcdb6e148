"""``navee-monitor demo``: a real crawl-and-match cycle on a local demo gallery."""

from __future__ import annotations

from pathlib import Path

from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("demo", help="see it work: crawl a local demo gallery with planted copies (offline)")
    p.add_argument("--dir", default=None, metavar="DIR",
                   help="where the demo keeps its data (default: ./navee-demo; wiped at each run; "
                        "never your data_dir)")
    p.set_defaults(handler=demo)


def demo(ctx: AppContext) -> int:
    from navee_monitor.demo.run import run_demo
    from navee_monitor.errors import UsageError

    target = Path(ctx.args.dir or "navee-demo").resolve()
    if target == ctx.settings.data_dir.resolve() or ctx.settings.data_dir.resolve().is_relative_to(target):
        raise UsageError(f"--dir {target} would overwrite your data directory; choose another folder")
    result = run_demo(ctx.settings, target)
    return 0 if result.crawl_status == "ok" else 1
