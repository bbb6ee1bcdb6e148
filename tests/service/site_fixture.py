"""A small watched web site of real artworks on 127.0.0.1, and references to match against it."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.helpers.http import LocalServer, Response
from tests.helpers.shared import art_images


def jpeg(path: Path, scale: float = 1.0, crop: float = 0.0, quality: int = 85) -> bytes:
    """A modified copy: resized, cropped at the borders, recompressed."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if crop:
            im = im.crop((int(w * crop), int(h * crop), int(w * (1 - crop)), int(h * (1 - crop))))
        if scale != 1.0:
            im = im.resize((max(16, int(im.width * scale)), max(16, int(im.height * scale))))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def art_set(n_refs: int, n_distractors: int) -> tuple[list[Path], list[Path]]:
    arts = art_images(n_refs + n_distractors)
    return arts[:n_refs], arts[n_refs:]


def serve_gallery(server: LocalServer, prefix: str, images: dict[str, bytes], per_page: int = 2,
                  image_delay: float = 0.0) -> str:
    """Pages ``/{prefix}/`` -> ``/{prefix}/p{i}.html`` each showing ``per_page`` images; returns the start URL."""
    names = sorted(images)
    pages = [names[i:i + per_page] for i in range(0, len(names), per_page)]
    links = "".join(f'<a href="/{prefix}/p{i}.html">page {i}</a> ' for i in range(len(pages)))
    server.routes[f"/{prefix}/"] = Response(f"<html><head><title>{prefix}</title></head><body>{links}</body></html>".encode())
    for i, page in enumerate(pages):
        imgs = "".join(f'<img src="/{prefix}/img/{n}" alt="{n}">' for n in page)
        server.routes[f"/{prefix}/p{i}.html"] = Response(
            f"<html><head><title>{prefix} {i}</title></head><body>{imgs}</body></html>".encode())
    for name, data in images.items():
        server.routes[f"/{prefix}/img/{name}"] = Response(data, content_type="image/jpeg", delay=image_delay)
    server.routes["/robots.txt"] = Response(b"User-agent: *\nAllow: /\n", content_type="text/plain")
    return server.url(f"/{prefix}/")
