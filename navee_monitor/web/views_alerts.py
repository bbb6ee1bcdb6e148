"""The alerts inbox: filters, side-by-side evidence, confirm / dismiss / allow, history."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from navee_monitor.alerts import review
from navee_monitor.errors import UsageError
from navee_monitor.reports import images
from navee_monitor.store import db
from navee_monitor.store.alert_review import STATUSES, AlertFilter, references_by_id
from navee_monitor.web.app import app_settings
from navee_monitor.web.security import safe_next

bp = Blueprint("alerts", __name__)

PAGE_SIZE = 100
WEB_SIDE = 480
ACTOR = "web"


def _float(name: str) -> float | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{name.replace('_', ' ')} must be a number, not '{value}'") from None


def _filter_from_query() -> tuple[AlertFilter, dict[str, str]]:
    q = {k: request.args.get(k, "").strip() for k in ("status", "site", "domain", "reference", "min_score", "since")}
    if "status" not in request.args:
        q["status"] = "new"  # an inbox: what still needs a decision
    flt = AlertFilter(
        statuses=review.parse_statuses([q["status"]]) if q["status"] else (),
        site=q["site"] or None, domain=q["domain"] or None, reference=q["reference"] or None,
        min_score=_float("min_score"), since=review.parse_since(q["since"]) if q["since"] else None,
        limit=PAGE_SIZE + 1,
    )
    return flt, q


@bp.route("/")
def inbox():
    settings = app_settings()
    flt, query = _filter_from_query()
    alerts = review.list_alerts(settings, flt)
    more = len(alerts) > PAGE_SIZE
    return render_template(
        "inbox.html", alerts=alerts[:PAGE_SIZE], more=more, query=query, statuses=STATUSES,
        counts=review.counts(settings), sites=[s.name for s in settings.sites], back=request.full_path.rstrip("?"),
    )


@bp.route("/alerts/<int:alert_id>")
def detail(alert_id: int):
    settings = app_settings()
    r = review.get_alert(settings, alert_id)
    return render_template("alert.html", r=r, a=r.alert, domains=review.page_domains(settings, alert_id),
                           evidence=review.evidence_paths(settings, r))


@bp.route("/alerts/review", methods=["POST"])
def review_many():
    """Buttons of the inbox: one alert (``single=action:id``) or the ticked ones (``action`` + ``ids``)."""
    back = safe_next(request.form.get("back"))
    single = request.form.get("single", "")
    if single:
        action, _, raw = single.partition(":")
        ids = [_int(raw)]
    else:
        action = request.form.get("action", "")
        ids = [_int(v) for v in request.form.getlist("ids")]
        if not ids:
            flash("Tick at least one alert first.", "error")
            return redirect(back)
    if action not in review.ACTIONS:
        abort(400, description=f"unknown action '{action}'")
    # "allow" from the inbox allows each alert on the domains its image was seen on
    result = review.apply_action(app_settings(), action, ids, note=request.form.get("note"), actor=ACTOR)
    _flash_result(result, action)
    return redirect(back)


@bp.route("/alerts/<int:alert_id>/action", methods=["POST"])
def act(alert_id: int):
    action = request.form.get("action", "")
    if action not in review.ACTIONS:
        abort(400, description=f"unknown action '{action}'")
    domains = None
    if action == "allow":
        domains = [d for d in request.form.getlist("domain") if d.strip()]
        custom = request.form.get("custom_domain", "").strip()
        if custom:
            domains.append(custom)
        if not domains:
            flash("Choose at least one domain to allow this artwork on.", "error")
            return redirect(url_for("alerts.detail", alert_id=alert_id))
    result = review.apply_action(app_settings(), action, [alert_id], note=request.form.get("note"), actor=ACTOR,
                                 domains=domains)
    _flash_result(result, action)
    return redirect(url_for("alerts.detail", alert_id=alert_id))


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        abort(400, description=f"'{raw}' is not an alert id")


def _flash_result(result: review.ReviewResult, action: str) -> None:
    for rule in result.rules:
        flash(f"Allowed {rule.reference_key} on {rule.domain} (and its subdomains).")
    changed = result.changed
    if changed:
        flash(f"{len(changed)} alert(s) now {changed[0].new_status}: " + ", ".join(f"#{c.alert_id}" for c in changed))
    elif result.changes:
        flash(f"Nothing to change: already {review.ACTIONS[action]}.")


# ---- evidence images -----------------------------------------------------------


def _jpeg(data: bytes | None) -> Response:
    if data is None:
        abort(404, description="image not available")
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.route("/alerts/<int:alert_id>/found.jpg")
def found_image(alert_id: int):
    settings = app_settings()
    return _jpeg(images.found_image(settings, review.get_alert(settings, alert_id), side=WEB_SIDE))


@bp.route("/references/<int:reference_id>/image.jpg")
def reference_image(reference_id: int):
    settings = app_settings()
    with db.session_scope(settings.database_url) as s:
        ref = references_by_id(s, [reference_id]).get(reference_id)
    if ref is None:
        abort(404, description=f"no reference with id {reference_id}")
    side = 160 if request.args.get("size") == "small" else WEB_SIDE
    return _jpeg(images.reference_image(settings, ref, side=side))
