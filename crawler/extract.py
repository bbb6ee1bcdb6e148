"""Find every image a visitor of an HTML page would see. Pure functions, no I/O.

Covered embeddings: ``<img src>``, ``srcset`` (+ ``sizes``), ``<picture>``
``<source srcset>``, lazy-loading attributes (``data-src``, ``data-srcset``,
``data-original``, ``data-lazy-src`` ...), CSS ``url()`` in ``style``
attributes and ``<style>`` blocks, ``og:image`` / ``twitter:image`` meta tags,
``<link rel="image_src">`` and links whose target is an image file.

URLs are resolved against ``<base href>`` (or the page URL), fragments are
dropped, query strings kept. ``data:``/``blob:``/``javascript:`` URLs and
elements declared 1x1 or 2x2 (tracking pixels) are skipped.

For a ``srcset`` the largest candidate is the image; the other candidates are
kept as ``alternates``: they become occurrences of the same image when they
turn out to have the same content (see ``pipelines.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from parsel import Selector
from w3lib.html import get_base_url

#: file extensions of links that point at an image rather than a page
IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "bmp", "tif", "tiff", "avif", "heic"}
)
#: attributes lazy-loading libraries put the real URL in (lazysizes, lozad, jQuery lazyload, WP Rocket ...)
LAZY_SRC_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-echo", "data-url")
LAZY_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset", "data-original-set")
#: background images set by lazy-loading libraries on any element
LAZY_BG_ATTRS = ("data-bg", "data-background", "data-background-image", "data-bg-src")
META_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
#: width/height at or below which an element is a tracking pixel, not an image
PIXEL_MAX_SIDE = 2

_CSS_URL_RE = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.I)
# declarations whose url() is something a visitor sees (not @font-face src, cursor, behavior ...)
_CSS_IMAGE_DECL_RE = re.compile(
    r"(?:^|[;{\s])(?:background(?:-image)?|border-image(?:-source)?|list-style(?:-image)?|content"
    r"|mask-image|-webkit-mask-image)\s*:\s*([^;}]*)",
    re.I,
)
_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
_DESCRIPTOR_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)([wxh])\s*$", re.I)


@dataclass(frozen=True)
class ImageRef:
    """One image of a page: its URL, alt text, how it was embedded, other renditions."""

    url: str
    alt: str | None = None
    #: img | srcset | picture | lazy | css | meta | link
    source: str = "img"
    #: other candidates of the same srcset/picture (smaller renditions)
    alternates: tuple[str, ...] = ()


@dataclass(frozen=True)
class SrcsetCandidate:
    url: str
    #: the descriptor's number; 1.0 for a bare URL
    value: float
    #: "w" (width), "x" (density); "h" (height, non-standard) is treated like "w"
    unit: str


# ---- srcset ----------------------------------------------------------------------


def parse_srcset(value: str | None) -> list[SrcsetCandidate]:
    """Parse a ``srcset`` like the HTML standard: URLs may contain commas (``w_100,h_80``)."""
    out: list[SrcsetCandidate] = []
    if not value:
        return out
    text, pos, n = value, 0, len(value)
    while pos < n:
        while pos < n and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= n:
            break
        start = pos
        while pos < n and not text[pos].isspace():
            pos += 1
        url = text[start:pos]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth, start = 0, pos
            while pos < n and not (text[pos] == "," and depth == 0):
                depth += {"(": 1, ")": -1}.get(text[pos], 0)
                pos += 1
            descriptor = text[start:pos].strip()
        if not url:
            continue
        out.append(_candidate(url, descriptor))
    return out


def _candidate(url: str, descriptor: str) -> SrcsetCandidate:
    for token in descriptor.split():
        m = _DESCRIPTOR_RE.match(token)
        if m:
            unit = m.group(2).lower()
            return SrcsetCandidate(url, float(m.group(1)), "w" if unit == "h" else unit)
    return SrcsetCandidate(url, 1.0, "x")


def largest_candidate(candidates: list[SrcsetCandidate]) -> SrcsetCandidate | None:
    """Widest ``w`` candidate when there is one, else the highest density."""
    if not candidates:
        return None
    widths = [c for c in candidates if c.unit == "w"]
    pool = widths or candidates
    return max(pool, key=lambda c: c.value)


# ---- CSS -------------------------------------------------------------------------


def css_image_urls(css: str | None) -> list[str]:
    """URLs of images in CSS declarations (background, border-image, content ...)."""
    if not css:
        return []
    css = _CSS_COMMENT_RE.sub(" ", css)
    urls: list[str] = []
    for decl in _CSS_IMAGE_DECL_RE.finditer(css):
        for m in _CSS_URL_RE.finditer(decl.group(1)):
            url = next(g for g in m.groups() if g is not None).strip()
            if url:
                urls.append(url)
    return urls


# ---- URLs ------------------------------------------------------------------------


def is_image_url(url: str) -> bool:
    """True when the URL's path ends in an image file extension (query string ignored)."""
    path = urlsplit(url).path
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return ext in IMAGE_EXTENSIONS


def resolve(base: str, raw: str | None) -> str | None:
    """Absolute http(s) URL without fragment, or None for data:, javascript:, empty ..."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or raw.startswith("#"):
        return None
    scheme = raw.split(":", 1)[0].lower() if ":" in raw[:12] else ""
    if scheme and scheme not in ("http", "https"):
        return None  # data:, blob:, javascript:, about:, mailto: ...
    url = urldefrag(urljoin(base, raw))[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def _is_pixel(sel: Selector) -> bool:
    """Declared tracking pixel: width and height attributes both tiny."""
    sizes = []
    for attr in ("width", "height"):
        m = re.match(r"\s*(\d+)", sel.attrib.get(attr, ""))
        if not m:
            return False
        sizes.append(int(m.group(1)))
    return max(sizes) <= PIXEL_MAX_SIDE


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


# ---- extraction ------------------------------------------------------------------


class _Collector:
    """Keeps the first ImageRef per URL, merging alternates and the first alt text."""

    def __init__(self) -> None:
        self._refs: dict[str, ImageRef] = {}

    def add(self, url: str | None, alt: str | None, source: str, alternates: tuple[str, ...] = ()) -> None:
        if not url:
            return
        alternates = tuple(a for a in dict.fromkeys(alternates) if a and a != url)
        old = self._refs.get(url)
        if old is None:
            self._refs[url] = ImageRef(url, alt, source, alternates)
            return
        merged = tuple(dict.fromkeys(old.alternates + alternates))
        self._refs[url] = ImageRef(url, old.alt or alt, old.source, merged)

    def refs(self) -> list[ImageRef]:
        # an URL that is the main image of one element is not also an alternate of another
        mains = set(self._refs)
        return [
            ImageRef(r.url, r.alt, r.source, tuple(a for a in r.alternates if a not in mains))
            for r in self._refs.values()
        ]


def extract_images(html: str, page_url: str, selector: Selector | None = None) -> list[ImageRef]:
    """All images of one HTML page, in document order, one ImageRef per distinct URL.

    ``selector``: the page already parsed (Scrapy's ``response.selector``), to parse once."""
    sel = selector if selector is not None else Selector(text=html or "<html></html>")
    base = get_base_url(html or "", page_url)
    out = _Collector()

    for meta in sel.xpath("//meta[@content]"):
        key = (meta.attrib.get("property") or meta.attrib.get("name") or "").strip().lower()
        if key in META_IMAGE_KEYS:
            alt_key = key.split(":")[0] + ":image:alt"
            alt = sel.xpath(
                "//meta[@property=$k or @name=$k]/@content", k=alt_key
            ).get()
            out.add(resolve(base, meta.attrib["content"]), _text(alt), "meta")
    for link in sel.xpath("//link[@href]"):
        if "image_src" in (link.attrib.get("rel") or "").lower().split():
            out.add(resolve(base, link.attrib["href"]), None, "meta")

    for el in sel.xpath("//img | //source[ancestor::picture or @srcset or @data-srcset]"):
        _element_images(el, base, out)

    for el in sel.xpath("//*[@style]"):
        for raw in css_image_urls(el.attrib["style"]):
            out.add(resolve(base, raw), _text(el.attrib.get("aria-label") or el.attrib.get("title")), "css")
    for el in sel.xpath("//*[" + " or ".join(f"@{a}" for a in LAZY_BG_ATTRS) + "]"):
        for attr in LAZY_BG_ATTRS:
            raw = el.attrib.get(attr)
            if raw:
                inner = css_image_urls(f"background-image:{raw}") if "url(" in raw else [raw]
                for u in inner:
                    out.add(resolve(base, u), _text(el.attrib.get("aria-label")), "lazy")
    for block in sel.xpath("//style/text()").getall():
        for raw in css_image_urls(block):
            out.add(resolve(base, raw), None, "css")

    for a in sel.xpath("//a[@href]"):
        url = resolve(base, a.attrib["href"])
        if url and is_image_url(url):
            alt = _text(a.attrib.get("title")) or _text(" ".join(a.xpath(".//text()").getall()))
            alt = alt or _text(a.xpath(".//img/@alt").get())
            out.add(url, alt, "link")
    return out.refs()


def _element_images(el: Selector, base: str, out: _Collector) -> None:
    """One <img> or <source>: its main URL (largest candidate) and alternates."""
    is_img = el.root.tag == "img"
    if is_img and _is_pixel(el):
        return
    if is_img:
        alt = _text(el.attrib.get("alt")) or _text(el.attrib.get("title"))
    else:
        # a <source> shares the alt text of its picture's <img> (libxml2 may nest
        # that <img> inside the <source>, it does not know <source> is a void element)
        alt = _text(el.xpath("ancestor::picture[1]//img/@alt").get())
    lazy = False
    candidates: list[SrcsetCandidate] = []
    for attr in ("srcset", *LAZY_SRCSET_ATTRS):
        parsed = parse_srcset(el.attrib.get(attr))
        candidates += parsed
        lazy = lazy or (bool(parsed) and attr != "srcset")
    lazy_singles = [el.attrib[a] for a in LAZY_SRC_ATTRS if resolve(base, el.attrib.get(a))]
    lazy = lazy or bool(lazy_singles)
    # with lazy loading, src usually holds a placeholder, not a rendition of the image
    src = el.attrib.get("src") if not lazy and resolve(base, el.attrib.get("src")) else None
    singles = lazy_singles + ([src] if src else [])

    resolved = [(resolve(base, c.url), c) for c in candidates]
    resolved = [(u, c) for u, c in resolved if u]
    if resolved:
        best = largest_candidate([c for _, c in resolved])
        main = next(u for u, c in resolved if c is best)
        others = [u for u, _ in resolved if u != main] + [resolve(base, s) for s in singles]
        source = "picture" if not is_img else ("lazy" if lazy else "srcset")
        out.add(main, alt, source, tuple(u for u in others if u and u != main))
        return
    # no srcset: a lazy attribute holds the real image, else src
    urls = [u for u in (resolve(base, s) for s in singles) if u]
    if urls:
        source = "lazy" if lazy_singles else ("img" if is_img else "picture")
        out.add(urls[0], alt, source, tuple(urls[1:]))


def extract_title(html: str, selector: Selector | None = None) -> str | None:
    sel = selector if selector is not None else Selector(text=html or "<html></html>")
    return _text(sel.xpath("//title/text()").get())
