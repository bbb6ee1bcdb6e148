"""Entry point of the ``navee-monitor`` command.

Each command group lives in its own module exposing ``register(subparsers)``;
handlers take ``(ctx: AppContext)`` and return an exit status. Heavy imports
(TensorFlow, Scrapy, OpenCV) happen inside handlers so that ``--help`` and
``config check`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Any

from navee_monitor import __version__
from navee_monitor.errors import ConfigError, NaveeError, UsageError
from navee_monitor.logging_setup import configure_logging

log = logging.getLogger("navee_monitor")

#: command modules, in the order they appear in ``--help``
COMMAND_MODULES = [
    "navee_monitor.cli.db_cmd",
    "navee_monitor.cli.config_cmd",
    "navee_monitor.cli.references_cmd",
    "navee_monitor.cli.index_cmd",
    "navee_monitor.cli.match_cmd",
    "navee_monitor.cli.sites_cmd",
    "navee_monitor.cli.crawl_cmd",
    "navee_monitor.cli.run_cmd",
    "navee_monitor.cli.status_cmd",
    "navee_monitor.cli.alerts_cmd",
    "navee_monitor.cli.report_cmd",
    "navee_monitor.cli.web_cmd",
    "navee_monitor.cli.models_cmd",
    "navee_monitor.cli.evaluate_cmd",
    "navee_monitor.cli.train_cmd",
    "navee_monitor.cli.demo_cmd",
]


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() owns exit codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="navee-monitor",
        description="Find stolen, modified copies of artworks on watched web sites.",
    )
    parser.add_argument("--version", action="version", version=f"navee-monitor {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: ./config.yaml when present)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="overrides logging.level")
    parser.add_argument("--log-format", choices=["text", "json"], help="overrides logging.format")
    parser.add_argument("--data-dir", metavar="DIR", help="overrides data_dir")
    parser.add_argument("--database-url", metavar="URL", help="overrides database.url")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command group not built yet
                continue
            raise
        module.register(sub)
    return parser


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.log_level:
        out.setdefault("logging", {})["level"] = args.log_level
    if args.log_format:
        out.setdefault("logging", {})["format"] = args.log_format
    if args.data_dir:
        out["data_dir"] = args.data_dir
    if args.database_url:
        out.setdefault("database", {})["url"] = args.database_url
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--log-level=debug" in argv or ("--log-level" in argv and "debug" in argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help(sys.stderr)
            return 2
        return _run(args)
    except KeyboardInterrupt:
        print("navee-monitor: interrupted", file=sys.stderr)
        return 130
    except NaveeError as exc:
        if debug:
            log.exception("command failed")
        msg = str(exc)
        print(f"navee-monitor: error: {msg}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0


def _run(args: argparse.Namespace) -> int:
    from navee_monitor.cli.context import AppContext
    from navee_monitor.settings import load_settings

    try:
        settings = load_settings(args.config, overrides=_flag_overrides(args))
    except ConfigError:
        configure_logging(args.log_level or "info", args.log_format or "text")
        raise
    configure_logging(settings.logging.level, settings.logging.format)
    ctx = AppContext(settings=settings, args=args)
    status = args.handler(ctx)
    return int(status or 0)


def entry() -> None:  # pragma: no cover - console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
