"""The matching worker: pending crawled images -> matches -> alerts.

Plain functions the daemon's job, ``crawl --once`` and tests all call.
Each batch is one transaction: the images are marked matched together with
their alerts, so a crash or ``kill -9`` loses nothing and, since alerts are
unique per (reference, image) and upserted, never duplicates one.
"""

from __future__ import annotations

import logging
import threading

from navee_monitor.alerts.evidence import write_thumbnail
from navee_monitor.errors import ImageError, NaveeError
from navee_monitor.imaging.decode import load_image
from navee_monitor.settings import Settings
from navee_monitor.store import alerts as store
from navee_monitor.store.alerts import AlertDraft
from navee_monitor.store.db import session_scope

log = logging.getLogger(__name__)

#: attempts after which an image that keeps failing for a transient reason is given up
MAX_ATTEMPTS = 3

_MATCHERS: dict[int, object] = {}


def get_matcher(settings: Settings):
    """One Matcher (models loaded once) per settings object and process."""
    from navee_monitor.matching.matcher import Matcher

    m = _MATCHERS.get(id(settings))
    if m is None:
        _MATCHERS.clear()
        m = _MATCHERS[id(settings)] = Matcher(settings)
    return m


def match_pending(settings: Settings, limit: int | None = None, stop: threading.Event | None = None,
                  matcher=None) -> int:
    """Match pending images in batches (then re-check matched images against newer
    references); returns the number of images processed."""
    matcher = matcher or get_matcher(settings)
    matcher.refresh()
    done = 0
    batch_size = settings.matching.batch_size
    while limit is None or done < limit:
        if stop is not None and stop.is_set():
            break
        n = batch_size if limit is None else min(batch_size, limit - done)
        with session_scope(settings.database_url) as s:
            batch = store.pending_images(s, n)
            up_to = store.max_reference_id(s)
        if not batch:
            break
        done += _match_batch(settings, matcher, [(img, 0) for img in batch], up_to)
    done += match_retroactive(settings, matcher=matcher, stop=stop)
    return done


def match_retroactive(settings: Settings, matcher=None, stop: threading.Event | None = None) -> int:
    """Images matched before some references existed are checked against those references only."""
    matcher = matcher or get_matcher(settings)
    done = 0
    while stop is None or not stop.is_set():
        with session_scope(settings.database_url) as s:
            up_to = store.max_reference_id(s)
            batch = store.images_behind(s, up_to, settings.matching.batch_size)
        if not batch:
            break
        done += _match_batch(settings, matcher, batch, up_to)
    return done


def _match_batch(settings: Settings, matcher, batch, up_to: int) -> int:
    images, ok = [], []
    failures: list[tuple[int, str, bool]] = []
    for img, since in batch:
        try:
            if not img.storage_path:
                raise ImageError("the image bytes were not stored")
            images.append(load_image(settings.data_dir / img.storage_path, settings.imaging,
                                     max_side=settings.imaging.max_side))
            ok.append((img, since))
        except ImageError as exc:
            failures.append((img.id, f"{exc.reason}: {exc}", True))
        except OSError as exc:
            failures.append((img.id, f"io_error: {exc}", False))
    results = _match_isolating_failures(matcher, images, ok, failures)
    with session_scope(settings.database_url) as s:
        for image_id, error, final in failures:
            store.mark_error(s, image_id, error, final=final)
    created = record_matches(settings, matcher.model_version,
                             [(img, image, matches, since) for (img, since), image, matches in zip(ok, images, results)
                              if matches is not None],
                             up_to)
    # transient failures stay pending until MAX_ATTEMPTS
    if any(not final for _, _, final in failures):
        with session_scope(settings.database_url) as s:
            for image_id, error, final in failures:
                if not final:
                    row_attempts = _attempts(s, image_id)
                    if row_attempts >= MAX_ATTEMPTS:
                        store.mark_error(s, image_id, error, final=True)
    if batch:
        log.info("matched %d image(s), %d failed, %d new alert(s)", len(ok), len(failures), created)
    return len(batch)


def _match_isolating_failures(matcher, images, ok, failures) -> list:
    """Match a batch; if the batch fails, match its images one by one so that one
    poisonous image is marked as an error instead of blocking the queue forever."""
    if not images:
        return []
    try:
        return matcher.match(images)
    except NaveeError:
        raise  # configuration/model problems concern every image: surface them
    except Exception:
        log.exception("matching a batch of %d image(s) failed; retrying them one by one", len(images))
    results = []
    for (img, _), image in zip(ok, images):
        try:
            results.append(matcher.match([image])[0])
        except Exception as exc:
            log.exception("image %s cannot be matched", img.sha256[:12])
            failures.append((img.id, f"match_failed: {exc.__class__.__name__}: {exc}", True))
            results.append(None)
    return results


def record_matches(settings: Settings, model_version: str, items, up_to: int) -> int:
    """Record the alerts of matched images and mark them matched, in one transaction.

    ``items``: (web image record, decoded RGB, match results, reference id already checked).
    Returns the number of alerts created.
    """
    created = 0
    with session_scope(settings.database_url) as s:
        for img, image, matches, since in items:
            drafts = [AlertDraft(m.reference, m.score, m.method, m.bbox, m.details)
                      for m in matches if m.verdict == "match"]
            thumbs = {}
            for d in drafts:
                try:
                    thumbs[d.reference_key] = write_thumbnail(settings, image, img.sha256, d.bbox)
                except (OSError, NaveeError) as exc:
                    log.warning("cannot write the evidence thumbnail of image %s: %s", img.sha256[:12], exc)
            new_ids = store.record_alerts(s, img.id, drafts, model_version=model_version,
                                          thumbnail_for=thumbs, min_reference_id=since)
            store.mark_matched(s, img.id, model_version, up_to)
            created += len(new_ids)
            if new_ids:
                log.info("image %s: %d new alert(s) (%s)", img.sha256[:12], len(new_ids),
                         ", ".join(d.reference_key for d in drafts))
    return created


def _attempts(session, image_id: int) -> int:
    from navee_monitor.store.models import WebImageRow

    row = session.get(WebImageRow, image_id)
    return row.attempts if row else MAX_ATTEMPTS
