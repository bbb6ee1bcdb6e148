"""The Flask application of ``navee-monitor web``: search by image and the alerts inbox."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from navee_monitor import __version__
from navee_monitor.alerts import review
from navee_monitor.errors import InputError, NaveeError, NotFoundError, UsageError
from navee_monitor.settings import Settings
from navee_monitor.web import security

log = logging.getLogger(__name__)


class MatcherHolder:
    """One Matcher per app, created on first use (it loads TensorFlow and the index)."""

    def __init__(self, settings: Settings, factory: Callable[[Settings], object] | None = None):
        self.settings = settings
        self._factory = factory
        self._matcher = None
        self._lock = threading.Lock()
        #: matching is serialised: the model is big and the machine small
        self.match_lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._matcher is None:
                if self._factory is None:
                    from navee_monitor.matching.matcher import Matcher

                    self._factory = Matcher
                log.info("loading the matcher for search by image")
                self._matcher = self._factory(self.settings)
            return self._matcher


def create_app(settings: Settings, matcher_factory: Callable[[Settings], object] | None = None) -> Flask:
    """The web application. Raises ConfigError when bound beyond loopback without ``web.token``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.urandom(32),  # sessions end with the process: nothing secret is kept on disk
        MAX_CONTENT_LENGTH=settings.web.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="navee_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["navee_settings"] = settings
    app.extensions["navee_matcher"] = MatcherHolder(settings, matcher_factory)
    app.jinja_env.filters["iso"] = review.iso
    app.jinja_env.filters["when"] = review.when
    app.jinja_env.globals.update(version=__version__, site_name=review.site_name, page_domain=review.page_domain)
    from navee_monitor.reports.html import safe_href

    app.jinja_env.filters["safe_href"] = safe_href
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    security.install(app, settings.web)

    from navee_monitor.web.views_alerts import bp as alerts_bp
    from navee_monitor.web.views_search import bp as search_bp

    app.register_blueprint(alerts_bp)
    app.register_blueprint(search_bp)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if not current_app.config["NAVEE_TOKEN"]:
            return redirect(url_for("alerts.inbox"))
        error = None
        if request.method == "POST":
            if security.token_matches(request.form.get("token")):
                session.clear()
                session["authenticated"] = True
                session.permanent = True
                flash("Signed in.")
                return redirect(security.safe_next(request.args.get("next")))
            error = "That token is not right."
            log.warning("web: wrong token from %s", request.remote_addr)
        return render_template("login.html", error=error), (401 if error else 200)

    @app.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("login") if current_app.config["NAVEE_TOKEN"] else url_for("alerts.inbox"))

    @app.errorhandler(NotFoundError)
    def _not_found(exc):
        return render_template("error.html", code=404, message=str(exc)), 404

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = exc.description
        if exc.code == 413:
            limit = settings.web.max_upload_bytes
            message = f"The file is too large: uploads are limited to {limit / 1048576:.1f} MiB (web.max_upload_bytes)."
        return render_template("error.html", code=exc.code, message=message), exc.code

    @app.errorhandler(NaveeError)
    def _navee_error(exc: NaveeError):
        # bad input (a filter value, an unknown domain) is the user's to fix; the rest is ours
        code = 400 if isinstance(exc, UsageError | InputError) else 500
        log.warning("web: %s", exc)
        return render_template("error.html", code=code, message=str(exc)), code

    return app


def app_settings() -> Settings:
    return current_app.extensions["navee_settings"]


def matcher_holder() -> MatcherHolder:
    return current_app.extensions["navee_matcher"]
