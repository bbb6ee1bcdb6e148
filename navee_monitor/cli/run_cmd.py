"""``navee-monitor run``: the daemon (see navee_monitor.service.daemon)."""

from __future__ import annotations

import logging
import os
import sys
import threading

from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("run", help="the daemon: scheduled crawls, matching, notifications")
    p.set_defaults(handler=run)


def run(ctx: AppContext) -> int:
    from navee_monitor.cli.main import _flag_overrides
    from navee_monitor.logging_setup import configure_logging
    from navee_monitor.service.daemon import Daemon
    from navee_monitor.settings import resolve_config_path

    settings = ctx.settings
    # a service logs to stdout, where journald (or the terminal) reads it
    configure_logging(settings.logging.level, settings.logging.format, stream=sys.stdout)
    config_path = resolve_config_path(ctx.args.config)
    if config_path is not None:
        config_path = config_path.resolve()  # SIGHUP re-reads this file, whatever the cwd
    daemon = Daemon(settings, config_path, _flag_overrides(ctx.args))
    status = daemon.run()
    leftovers = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if leftovers:
        # a crawl thread stuck past the grace period must not hold the exit
        logging.shutdown()
        sys.stdout.flush()
        os._exit(status)
    return status
