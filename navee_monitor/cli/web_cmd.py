"""``navee-monitor web [--host 127.0.0.1] [--port 8080]``: search by image and the alerts inbox.

Binds to loopback by default. Any other address needs ``web.token`` (the
command refuses to start without one). The server is werkzeug's threaded
WSGI server; for a team, put it behind a TLS reverse proxy.
"""

from __future__ import annotations

import logging

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import ConfigError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("web", help="serve the web page: search by image, review alerts")
    p.add_argument("--host", help="address to bind (default web.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default web.port, 8080; 0 = any free port)")
    p.set_defaults(handler=serve)


def serve(ctx: AppContext) -> int:
    from werkzeug.serving import make_server

    from navee_monitor.store import db
    from navee_monitor.web import create_app

    port = ctx.args.port if ctx.args.port is not None else ctx.settings.web.port
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port")
    web = ctx.settings.web.model_copy(update={"host": ctx.args.host or ctx.settings.web.host})
    settings = ctx.settings.model_copy(update={"web": web})
    db.ensure_schema(settings.database_url)
    app = create_app(settings)  # refuses a non-loopback address without web.token
    try:
        server = make_server(web.host, port, app, threaded=True)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {web.host}:{port}: {exc.strerror or exc}") from exc
    host = f"[{web.host}]" if ":" in web.host else web.host
    url = f"http://{host}:{server.server_port}/"
    print(f"navee-monitor web page on {url}" + ("  (token required)" if web.token else ""), flush=True)
    log.info("serving the web page on %s", url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
