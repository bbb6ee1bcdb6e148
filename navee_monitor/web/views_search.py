"""Search by image, as on the original study's web site: upload a file or give an image URL."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
from flask import Blueprint, render_template, request

from navee_monitor.errors import FetchError, ImageError, InputError
from navee_monitor.reports import images
from navee_monitor.settings import Settings
from navee_monitor.store import db
from navee_monitor.store.alert_review import references_by_key
from navee_monitor.web.app import app_settings, matcher_holder

log = logging.getLogger(__name__)
bp = Blueprint("search", __name__)

FETCH_TIMEOUT_S = 15
SHOWN = 10


@dataclass(frozen=True)
class Hit:
    reference: str
    score: float
    verdict: str
    method: str
    bbox: list[int] | None
    reference_id: int | None
    collection: str | None


def fetch_image_bytes(url: str, settings: Settings) -> bytes:
    """GET an image URL, bounded in size (``web.max_upload_bytes``) and time."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"'{url}' is not an http(s) URL", reason="bad_url")
    limit = settings.web.max_upload_bytes
    req = urllib.request.Request(url, headers={"User-Agent": settings.crawler.user_agent, "Accept": "image/*"})
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT_S) as resp:  # noqa: S310 - scheme checked above
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise FetchError(f"{url} is {int(length)} bytes, more than the {limit}-byte limit", reason="too_large")
            data = resp.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code}", reason=f"http_{exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot fetch {url}: {reason}", reason="fetch_error") from exc
    if len(data) > limit:
        raise FetchError(f"{url} is larger than the {limit}-byte limit", reason="too_large")
    return data


def _hits(settings: Settings, results) -> list[Hit]:
    with db.session_scope(settings.database_url) as s:
        refs = references_by_key(s, [m.reference for m in results])
    return [Hit(reference=m.reference, score=float(m.score), verdict=m.verdict, method=m.method,
                bbox=list(m.bbox) if m.bbox else None,
                reference_id=refs[m.reference].id if m.reference in refs else None,
                collection=refs[m.reference].collection if m.reference in refs else None)
            for m in results[:SHOWN]]


@bp.route("/search", methods=["GET", "POST"])
def search():
    from navee_monitor.imaging.decode import decode_image

    settings = app_settings()
    ctx: dict = {"url": "", "hits": None, "error": None, "query_image": None, "seconds": None, "source": None}
    if request.method == "GET":
        return render_template("search.html", **ctx)
    upload = request.files.get("image")
    url = request.form.get("url", "").strip()
    ctx["url"] = url
    try:
        if upload is not None and upload.filename:
            data, ctx["source"] = upload.read(), upload.filename
        elif url:
            data, ctx["source"] = fetch_image_bytes(url, settings), url
        else:
            ctx["error"] = "Choose an image file or give an image URL."
            return render_template("search.html", **ctx), 400
        rgb = decode_image(data, settings.imaging, max_side=settings.imaging.max_side)
    except (ImageError, FetchError, InputError) as exc:
        ctx["error"] = f"{exc}"
        return render_template("search.html", **ctx), 422
    holder = matcher_holder()
    started = time.perf_counter()
    with holder.match_lock:
        results = holder.get().match([np.ascontiguousarray(rgb)])[0]
    ctx["seconds"] = time.perf_counter() - started
    ctx["hits"] = _hits(settings, results)
    best = ctx["hits"][0] if ctx["hits"] else None
    ctx["verdict"] = "match" if any(h.verdict == "match" for h in ctx["hits"]) else (
        "candidate" if ctx["hits"] else "none")
    # the region is drawn when the copy is part of the image (a crop), not the whole of it
    region = best.bbox if best is not None and best.method == "crop" else None
    ctx["query_image"] = images.data_uri(images.image_thumbnail(rgb, 480, region))
    log.info("web search %s: %d result(s) in %.2fs", ctx["source"], len(results), ctx["seconds"])
    return render_template("search.html", **ctx)
