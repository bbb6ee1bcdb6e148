"""Evidence kept with an alert: a thumbnail of the found image with the matched region drawn."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from navee_monitor.fileio import write_atomically
from navee_monitor.settings import Settings

THUMB_SIDE = 480


def write_thumbnail(settings: Settings, image: np.ndarray, sha256: str, bbox: list[int] | None) -> str:
    """Writes (idempotently: same inputs, same path) and returns the path relative to data_dir."""
    tag = hashlib.sha1(repr(bbox).encode()).hexdigest()[:8]
    rel = Path("thumbnails") / sha256[:2] / f"{sha256}-{tag}.jpg"
    path = settings.data_dir / rel
    if path.exists():
        return str(rel)
    im = Image.fromarray(image)
    scale = min(1.0, THUMB_SIDE / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    if bbox:
        x, y, w, h = (v * scale for v in bbox)
        draw = ImageDraw.Draw(im)
        width = max(2, round(max(im.size) / 160))
        draw.rectangle([x, y, x + w, y + h], outline=(255, 40, 40), width=width)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=85)
    write_atomically(path, buf.getvalue())
    return str(rel)
