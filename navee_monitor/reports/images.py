"""Small evidence images for reports and the web page: JPEG bytes, data URIs.

Images are read through the safe decoder (crawled bytes are hostile even on
our own disk). The found image comes from the alert's evidence thumbnail when
it has one (the matched region is already drawn on it); otherwise from the
stored crawled image, with the region drawn here. A missing or unreadable
file gives ``None`` and the page says so: one bad file never breaks a report.
"""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
from PIL import Image, ImageDraw

from navee_monitor.errors import NaveeError
from navee_monitor.settings import Settings
from navee_monitor.store.records import Reference, ReviewedAlert

log = logging.getLogger(__name__)

#: longest side of the thumbnails embedded in the HTML report
REPORT_SIDE = 320
BOX_COLOUR = (255, 40, 40)


def _load(settings: Settings, rel: str | None, max_side: int | None) -> np.ndarray | None:
    from navee_monitor.imaging.decode import load_image

    if not rel:
        return None
    path = settings.data_dir / rel
    try:
        return load_image(path, settings.imaging, max_side=max_side)
    except (OSError, NaveeError) as exc:
        log.warning("evidence image %s cannot be shown: %s", path, exc)
        return None


def _shrink(im: Image.Image, side: int) -> Image.Image:
    scale = min(1.0, side / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    return im


def draw_box(im: Image.Image, bbox: list[int] | None, scale: float) -> Image.Image:
    """Draw ``bbox`` ([x, y, w, h] in source pixels, times ``scale``) on ``im``."""
    if not bbox or len(bbox) != 4:
        return im
    x, y, w, h = (float(v) * scale for v in bbox)
    width = max(2, round(max(im.size) / 120))
    ImageDraw.Draw(im).rectangle([x, y, x + w, y + h], outline=BOX_COLOUR, width=width)
    return im


def to_jpeg(im: Image.Image, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def found_image(settings: Settings, r: ReviewedAlert, side: int = REPORT_SIDE) -> bytes | None:
    """JPEG of the found image with the matched region drawn, at most ``side`` pixels."""
    if r.alert.thumbnail_path:
        rgb = _load(settings, r.alert.thumbnail_path, None)
        if rgb is not None:
            return to_jpeg(_shrink(Image.fromarray(rgb), side))
    # no evidence thumbnail: the bbox is in the coordinates the matcher saw,
    # the stored image decoded at imaging.max_side
    rgb = _load(settings, r.web_image.storage_path, settings.imaging.max_side)
    if rgb is None:
        return None
    im = Image.fromarray(rgb)
    small = _shrink(im, side)
    return to_jpeg(draw_box(small, r.alert.bbox, small.width / im.width))


def reference_image(settings: Settings, reference: Reference, side: int = REPORT_SIDE) -> bytes | None:
    rgb = _load(settings, reference.image_path, side)
    return to_jpeg(Image.fromarray(rgb)) if rgb is not None else None


def image_thumbnail(rgb: np.ndarray, side: int, bbox: list[int] | None = None) -> bytes:
    """JPEG of an in-memory RGB image (search uploads), region drawn when given."""
    im = Image.fromarray(rgb)
    small = _shrink(im, side)
    return to_jpeg(draw_box(small, bbox, small.width / im.width))


def data_uri(jpeg: bytes | None) -> str | None:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else None
