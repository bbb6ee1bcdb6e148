"""The demo: a small local gallery web site with planted copies of reference artworks.

Everything comes from scikit-image's bundled sample photographs (no network):
five of them become the reference collection; the gallery shows modified
copies of four (cropped, recoloured, captioned, pasted small into a larger
picture) among unrelated images, over three pages linked like a real site.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

log = logging.getLogger(__name__)

#: reference artworks of the demo: key -> scikit-image sample
REFERENCES = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field"]
#: unrelated images shown in the gallery (must raise no alert)
DISTRACTORS = ["immunohistochemistry", "colorwheel", "camera", "clock", "coins", "stereo_motorcycle", "retina"]
#: planted copies: gallery file -> (reference it copies, how it was modified)
PLANTED = {
    "astronaut-crop.jpg": ("astronaut", "cropped"),
    "coffee-warm.jpg": ("coffee", "recoloured"),
    "chelsea-meme.jpg": ("chelsea", "captioned"),
    "rocket-poster.jpg": ("rocket", "pasted into a larger picture"),
}


def sample(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo pairs
        img = img[0]
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def _caption(im: Image.Image, text: str) -> Image.Image:
    bar = max(40, im.height // 6)
    out = Image.new("RGB", (im.width, im.height + bar), "white")
    out.paste(im, (0, bar))
    font = ImageFont.load_default(size=int(bar * 0.6))
    ImageDraw.Draw(out).text((im.width // 2, bar // 2), text, fill="black", font=font, anchor="mm")
    return out


def _make_copies() -> dict[str, Image.Image]:
    astronaut = Image.fromarray(sample("astronaut"))
    coffee = Image.fromarray(sample("coffee"))
    chelsea = Image.fromarray(sample("chelsea"))
    rocket = Image.fromarray(sample("rocket"))
    w, h = astronaut.size
    copies = {
        "astronaut-crop.jpg": astronaut.crop((int(w * 0.12), int(h * 0.05), int(w * 0.9), int(h * 0.8))),
        "coffee-warm.jpg": ImageEnhance.Color(
            Image.merge("RGB", [c.point(lambda v, k=k: min(255, int(v * k))) for c, k in zip(coffee.split(), (1.15, 1.0, 0.8))])
        ).enhance(1.4),
        "chelsea-meme.jpg": _caption(chelsea, "WHEN THE CRAWLER FINDS YOU"),
    }
    # the rocket printed as a framed poster on a wall of the motorcycle garage
    wall = Image.fromarray(sample("stereo_motorcycle")).resize((1000, 740))
    poster = rocket.resize((300, 200))
    framed = Image.new("RGB", (poster.width + 24, poster.height + 24), (40, 30, 20))
    framed.paste(poster, (12, 12))
    wall.paste(framed, (640, 60))
    copies["rocket-poster.jpg"] = wall
    return copies


@dataclass(frozen=True)
class Gallery:
    root: Path
    references_dir: Path

    @property
    def site_dir(self) -> Path:
        return self.root / "site"


def build_gallery(root: Path) -> Gallery:
    """Writes the reference images and the gallery site under ``root``."""
    refs = root / "references"
    site = root / "site"
    (site / "img").mkdir(parents=True, exist_ok=True)
    refs.mkdir(parents=True, exist_ok=True)
    for name in REFERENCES:
        Image.fromarray(sample(name)).save(refs / f"{name}.png")
    images = {name: im for name, im in _make_copies().items()}
    for name in DISTRACTORS:
        images[f"{name}.jpg"] = Image.fromarray(sample(name))
    for name, im in images.items():
        im.convert("RGB").save(site / "img" / name, "JPEG", quality=88)
    names = sorted(images)
    pages = [names[i::3] for i in range(3)]
    for i, page in enumerate(pages):
        nav = " | ".join(f'<a href="page{j}.html">page {j + 1}</a>' for j in range(len(pages)))
        cards = "\n".join(
            f'<figure><img src="img/{html.escape(n)}" alt="{html.escape(n)}" width="240"><figcaption>{html.escape(n)}</figcaption></figure>'
            for n in page
        )
        (site / f"page{i}.html").write_text(
            f"<!doctype html><html><head><title>Demo gallery, page {i + 1}</title></head>"
            f"<body><h1>Demo gallery</h1><nav>{nav}</nav>{cards}</body></html>"
        )
    (site / "index.html").write_text(
        '<!doctype html><html><head><title>Demo gallery</title></head><body><h1>Demo gallery</h1>'
        '<p>Prints and posters.</p><a href="page0.html">enter the gallery</a></body></html>'
    )
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    return Gallery(root, refs)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class GalleryServer:
    """Serves the gallery on 127.0.0.1 from a background thread."""

    def __init__(self, gallery: Gallery, port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(gallery.site_dir))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-gallery", daemon=True)

    def start(self) -> GalleryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def demo_site(url: str):
    from navee_monitor.settings import SiteSettings

    return SiteSettings(name="demo-gallery", start_urls=[url], schedule="2m", max_depth=3, max_pages=50,
                        obey_robots=True, delay_s=0.0)


def demo_site_settings(settings):
    """For the daemon with no site configured: serve the gallery, make sure the demo
    references are in the collection ``demo``, and return (settings with the demo site, server)."""
    from navee_monitor.references.ingest import add_references

    gallery = build_gallery(settings.path("demo"))
    server = GalleryServer(gallery).start()
    add_references(settings, [str(gallery.references_dir)], collection="demo")
    log.info("no site configured: watching the built-in demo gallery at %s", server.url)
    return settings.model_copy(update={"sites": [demo_site(server.url)]}), server
