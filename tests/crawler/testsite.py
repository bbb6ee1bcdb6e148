"""A local web site on 127.0.0.1 that exercises every way of embedding an image,
plus everything that goes wrong on real sites.

Images are real artworks from ``../shared/data``. Image routes answer
conditional requests (ETag / Last-Modified -> 304) and count the image bodies
they send, so a test can prove that a second crawl downloads nothing again.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import Counter
from email.utils import formatdate

from PIL import Image

from tests.helpers.http import LocalServer, Response
from tests.helpers.shared import art_images

ROBOTS = "User-agent: *\nDisallow: /private/\nDisallow: /img/secret.jpg\n"

#: image path -> what the page shows it through (checked by the tests)
EMBEDDED = {
    "/img/plain.jpg": "img src",
    "/img/set-800.jpg": "srcset largest (800w)",
    "/img/set-dup.jpg": "srcset candidate with the same content as the largest",
    "/img/pic.webp": "picture source type=image/webp",
    "/img/pic.jpg": "picture img fallback",
    "/img/lazy-src.jpg": "data-src",
    "/img/lazy-set-2x.jpg": "data-srcset largest",
    "/img/lazy-original.jpg": "data-original",
    "/img/lazy-lazysrc.jpg": "data-lazy-src",
    "/img/style-attr.jpg": "style background-image",
    "/img/style-block.png": "<style> background",
    "/img/og.jpg": "og:image",
    "/img/twitter.jpg": "twitter:image",
    "/img/linked.jpg?v=3": "a href to an image file, query string",
    "/img/redirect.jpg": "302 to /img/target.jpg",
    "/img/q.jpg?size=large&v=2": "query string",
    "/media/based.jpg": "relative URL under <base href>",
    "/img/deep2.jpg": "two clicks deep",
    "/img/sitemap-only.jpg": "page only listed in sitemap.xml",
    "/moved/moved-page.jpg": "relative URL on a page reached through a 301",
}
#: image paths whose download fails, and the reason the crawl must record
FAILING = {
    "/img/missing.jpg": "http_404",
    "/img/error500.jpg": "http_500",
    "/img/slow.jpg": "timeout",
    "/img/corrupt.jpg": "corrupt",
    "/img/huge.jpg": "too_large",
    "/img/fake.jpg": "not_an_image",
    "/img/text.jpg": "not_an_image",
}
NEVER_REQUESTED = [
    "/img/secret.jpg",  # robots.txt
    "/private/hidden.html",  # robots.txt
    "/private/img.jpg",
    "/excluded/page.html",  # exclude pattern
    "/gallery/page3.html",  # deeper than max_depth
    "/img/deep3.jpg",
]
#: download_max_bytes the tests configure (huge.jpg is larger)
MAX_BYTES = 2_000_000


def _jpeg(path) -> bytes:
    return path.read_bytes()


def _as(path, fmt: str, size: int | None = None) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size:
            im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, fmt)
        return buf.getvalue()


def _gif_pixel() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 255, 255)).save(buf, "GIF")
    return buf.getvalue()


INDEX = """<!doctype html><html><head><title>Gallery home</title>
<meta property="og:image" content="/img/og.jpg">
<meta name="twitter:image" content="/img/twitter.jpg">
<style>.hero {{ background: #fff url("/img/style-block.png") no-repeat; }}
@font-face {{ font-family: x; src: url(/fonts/x.woff2); }}</style></head><body>
<img src="/img/plain.jpg" alt="Plain artwork">
<img src="/img/set-300.jpg" srcset="/img/set-300.jpg 300w, /img/set-800.jpg 800w, /img/set-dup.jpg 600w"
     sizes="(max-width: 600px) 100vw, 50vw" alt="Responsive artwork">
<picture><source srcset="/img/pic.webp" type="image/webp"><img src="/img/pic.jpg" alt="Picture artwork"></picture>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/img/lazy-src.jpg" class="lazyload" alt="Lazy one">
<img data-srcset="/img/lazy-set-1x.jpg 1x, /img/lazy-set-2x.jpg 2x" alt="Lazy two">
<img data-original="/img/lazy-original.jpg"><img data-lazy-src="/img/lazy-lazysrc.jpg">
<div class="hero" style="background-image: url('/img/style-attr.jpg')">hero</div>
<a href="/img/linked.jpg?v=3">full size</a>
<img src="/img/redirect.jpg"><img src="/img/q.jpg?size=large&amp;v=2">
<img src="/img/pixel.gif"><img src="/img/declared-pixel.gif" width="1" height="1">
<img src="/img/secret.jpg"><img src="/img/missing.jpg"><img src="/img/error500.jpg">
<img src="/img/slow.jpg"><img src="/img/corrupt.jpg"><img src="/img/huge.jpg">
<img src="/img/fake.jpg"><img src="/img/text.jpg">
<a href="/gallery/page1.html">gallery</a> <a href="/private/hidden.html">private</a>
<a href="/excluded/page.html">excluded</a> <a href="/old-page">old</a>
<a href="/broken.html">broken</a> <a href="/flaky.html">flaky</a>
<a href="http://other.invalid/page.html">elsewhere</a>
</body></html>"""

PAGE1 = """<html><head><title>Gallery 1</title><base href="/media/"></head><body>
<img src="based.jpg" alt="Based"><a href="/gallery/page2.html">next</a></body></html>"""
PAGE2 = """<html><head><title>Gallery 2</title></head><body>
<img src="/img/deep2.jpg"><a href="/gallery/page3.html">next</a></body></html>"""
PAGE3 = """<html><head><title>Gallery 3</title></head><body><img src="/img/deep3.jpg"></body></html>"""
HIDDEN = """<html><body><img src="/private/img.jpg"></body></html>"""
SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{base}/</loc></url><url><loc>{base}/sitemap-only.html</loc></url>
<url><loc>http://other.invalid/x.html</loc></url></urlset>"""
SITEMAP_ONLY = """<html><head><title>Unlinked</title></head><body><img src="/img/sitemap-only.jpg"></body></html>"""
MOVED = """<html><head><title>Moved</title></head><body><img src="moved-page.jpg"></body></html>"""
JS_PAGE = """<html><head><title>Scripted</title></head><body><div id="g"></div>
<script>
document.addEventListener('DOMContentLoaded', function () {
  var img = document.createElement('img');
  img.src = '/img/js-inserted.jpg'; img.alt = 'Inserted by script';
  document.getElementById('g').appendChild(img);
});
</script></body></html>"""


class TestSite:
    """The server, its image bytes, and counters of image bodies sent (200s)."""

    def __init__(self, server: LocalServer):
        self.server = server
        # socketserver listens with a backlog of 5: a crawler opening a dozen connections
        # at once overflows it and the kernel drops SYNs (retried after 1 s, a timeout here)
        server.httpd.socket.listen(128)
        self.images: dict[str, bytes] = {}
        self.bodies_sent: Counter[str] = Counter()
        self._lock = threading.Lock()
        art = art_images(40)
        distinct = iter(art)
        for path in list(EMBEDDED) + ["/img/set-300.jpg", "/img/lazy-set-1x.jpg", "/img/target.jpg",
                                      "/img/deep3.jpg", "/private/img.jpg", "/img/secret.jpg",
                                      "/img/js-inserted.jpg"]:
            if path in ("/img/redirect.jpg", "/img/set-dup.jpg"):
                continue
            source = next(distinct)
            if path.endswith(".webp"):
                self.images[path] = _as(source, "WEBP")
            elif path.endswith(".png"):
                self.images[path] = _as(source, "PNG", 400)
            elif path == "/img/set-300.jpg":
                self.images[path] = _as(art[1], "JPEG", 300)  # a smaller rendition of set-800
            else:
                self.images[path] = _jpeg(source)
        self.images["/img/set-800.jpg"] = _jpeg(art[1])
        self.images["/img/set-dup.jpg"] = self.images["/img/set-800.jpg"]
        self.images["/img/pixel.gif"] = _gif_pixel()
        self.images["/img/declared-pixel.gif"] = _gif_pixel()
        self._routes()

    def url(self, path: str = "/") -> str:
        return self.server.url(path)

    def _image(self, path: str, data: bytes, validators: str = "etag") -> None:
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        modified = formatdate(1_700_000_000, usegmt=True)

        def handler(server, req):
            if validators == "etag" and req.headers.get("If-None-Match") == etag:
                return Response(b"", 304, {"ETag": etag})
            if validators == "modified" and req.headers.get("If-Modified-Since") == modified:
                return Response(b"", 304, {"Last-Modified": modified})
            with self._lock:
                self.bodies_sent[path] += 1
            headers = {"ETag": etag} if validators == "etag" else {"Last-Modified": modified}
            ctype = {"webp": "image/webp", "png": "image/png", "gif": "image/gif"}.get(
                path.rsplit(".", 1)[-1].split("?")[0], "image/jpeg"
            )
            return Response(data, 200, headers, content_type=ctype)

        self.server.routes[path] = handler

    def _routes(self) -> None:
        r = self.server.routes
        base = self.server.base
        r["/robots.txt"] = Response(ROBOTS.encode(), content_type="text/plain")
        r["/"] = Response(INDEX.format().encode())  # format() undoes the doubled braces
        r["/gallery/page1.html"] = Response(PAGE1.encode())
        r["/gallery/page2.html"] = Response(PAGE2.encode())
        r["/gallery/page3.html"] = Response(PAGE3.encode())
        r["/private/hidden.html"] = Response(HIDDEN.encode())
        r["/excluded/page.html"] = Response(b"<html><body>excluded</body></html>")
        r["/sitemap.xml"] = Response(SITEMAP.format(base=base).encode(), content_type="application/xml")
        r["/sitemap-only.html"] = Response(SITEMAP_ONLY.encode())
        r["/old-page"] = Response(b"", 301, {"Location": "/moved/index.html"})
        r["/moved/index.html"] = Response(MOVED.encode())
        r["/flaky.html"] = Response(b"server error", 500)
        r["/js.html"] = Response(JS_PAGE.encode())
        for i, (path, data) in enumerate(self.images.items()):
            self._image(path, data, "modified" if i % 3 == 0 else "etag")
        r["/img/redirect.jpg"] = Response(b"", 302, {"Location": "/img/target.jpg"})
        r["/img/error500.jpg"] = self._count("/img/error500.jpg", Response(b"oops", 500))
        r["/img/slow.jpg"] = Response(self.images["/img/target.jpg"], delay=8.0, content_type="image/jpeg")
        r["/img/corrupt.jpg"] = Response(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40, content_type="image/jpeg")
        r["/img/huge.jpg"] = Response(
            self.images["/img/plain.jpg"] + b"\0" * (MAX_BYTES + 1000), content_type="image/jpeg"
        )
        r["/img/fake.jpg"] = Response(b"<!doctype html><html><body>not here</body></html>", content_type="image/jpeg")
        r["/img/text.jpg"] = Response(b"<html><body>a page</body></html>")  # text/html
        for path in ("/img/pixel.gif", "/img/declared-pixel.gif"):
            self._image(path, self.images[path])

    def _count(self, path: str, resp: Response):
        def handler(server, req):
            with self._lock:
                self.bodies_sent[path] += 1
            return resp

        return handler

    def requested(self, since: int = 0) -> list[str]:
        return [p for p in self.server.paths_requested()[since:]]

    def request_count(self) -> int:
        return len(self.server.paths_requested())
