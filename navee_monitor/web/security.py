"""Who may use the web page, and protection of its forms.

- Bound to a loopback address without a token, only requests whose ``Host``
  is a loopback name are served: a web page elsewhere cannot reach the inbox
  through DNS rebinding.
- With ``web.token`` set (required when bound to anything but loopback),
  every page asks for the token once per browser session (or an
  ``Authorization: Bearer <token>`` header, for scripts).
- Every state-changing request carries the per-session CSRF token (a hidden
  form field or an ``X-CSRF-Token`` header), compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, session, url_for

from navee_monitor.errors import ConfigError
from navee_monitor.settings import WebSettings

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
CSRF_FIELD = "csrf_token"
#: endpoints reachable without the token (the login form and its stylesheet)
OPEN_ENDPOINTS = {"login", "static"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(web: WebSettings) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(web.host) and not web.token:
        raise ConfigError(
            f"web.host is {web.host}, which other machines can reach: set web.token (a long random secret, "
            "e.g. NAVEE_WEB__TOKEN=$(openssl rand -hex 24)) or bind to 127.0.0.1"
        )
    if web.token is not None and len(web.token) < 16:
        raise ConfigError("web.token is too short: use at least 16 characters (e.g. `openssl rand -hex 24`)")


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _bearer_ok(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode())


def token_matches(given: str | None) -> bool:
    token = current_app.config["NAVEE_TOKEN"]
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def safe_next(target: str | None) -> str:
    """Only local paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("alerts.inbox")


def install(app: Flask, web: WebSettings) -> None:
    check_bind(web)
    app.config["NAVEE_TOKEN"] = web.token
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["CSRF_FIELD"] = CSRF_FIELD

    @app.before_request
    def _guard():
        token = app.config["NAVEE_TOKEN"]
        if not token:
            host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
            if not is_loopback(host):
                abort(400, description="this server only answers to localhost / 127.0.0.1")
        bearer = bool(token) and _bearer_ok(token)
        if token and not bearer and not session.get("authenticated") and request.endpoint not in OPEN_ENDPOINTS:
            if request.method in UNSAFE_METHODS or request.path.endswith(".jpg"):
                abort(401)
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        # a Bearer header is never sent by a browser on its own: no CSRF risk there
        if request.method in UNSAFE_METHODS and not bearer:
            given = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token", "")
            expected = session.get("csrf", "")
            if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                abort(400, description="the form expired or did not come from this site (CSRF check): "
                                       "reload the page and try again")
        return None

    @app.after_request
    def _headers(resp):
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp
