"""Image extraction from HTML: pure functions, every embedding pattern."""

from __future__ import annotations

import pytest

from navee_crawler.extract import (
    css_image_urls,
    extract_images,
    extract_title,
    is_image_url,
    largest_candidate,
    parse_srcset,
    resolve,
)

PAGE = "http://site.test/art/index.html"


def _by_url(html: str, page: str = PAGE):
    return {r.url: r for r in extract_images(html, page)}


@pytest.mark.parametrize(
    ("srcset", "expected"),
    [
        ("a.jpg 300w, b.jpg 800w, c.jpg 600w", "b.jpg"),
        ("a.jpg, b.jpg 2x, c.jpg 1.5x", "b.jpg"),
        ("https://cdn.test/w_100,h_80/a.jpg 100w, https://cdn.test/w_900,h_700/a.jpg 900w",
         "https://cdn.test/w_900,h_700/a.jpg"),
        ("  a.jpg   1x ,b.jpg 3x,", "b.jpg"),
        ("x.jpg 1x, y.jpg 400w", "y.jpg"),  # width descriptors win over densities
        ("only.jpg", "only.jpg"),
    ],
)
def test_largest_srcset_candidate(srcset, expected):
    assert largest_candidate(parse_srcset(srcset)).url == expected


def test_srcset_parsing_keeps_commas_inside_urls_and_ignores_garbage():
    c = parse_srcset("a,b.jpg 10w, c.jpg 2x, , d.jpg (bogus), e.jpg 1.5e1w")
    assert [(x.url, x.value, x.unit) for x in c] == [
        ("a,b.jpg", 10, "w"), ("c.jpg", 2, "x"), ("d.jpg", 1, "x"), ("e.jpg", 15, "w"),
    ]
    assert parse_srcset("") == [] and parse_srcset(None) == [] and largest_candidate([]) is None


def test_img_srcset_sizes_keeps_other_candidates_as_alternates():
    refs = _by_url('<img src="s.jpg" srcset="s-400.jpg 400w, s-1200.jpg 1200w" sizes="50vw" alt="Sea">')
    ref = refs["http://site.test/art/s-1200.jpg"]
    assert ref.source == "srcset" and ref.alt == "Sea"
    assert ref.alternates == ("http://site.test/art/s-400.jpg", "http://site.test/art/s.jpg")
    assert len(refs) == 1


def test_picture_sources_share_the_img_alt():
    refs = _by_url(
        '<picture><source srcset="/p.avif 1x, /p@2x.avif 2x" type="image/avif">'
        '<source srcset="/p.webp" type="image/webp"><img src="/p.jpg" alt="Portrait"></picture>'
    )
    assert set(refs) == {"http://site.test/p@2x.avif", "http://site.test/p.webp", "http://site.test/p.jpg"}
    assert refs["http://site.test/p@2x.avif"].alternates == ("http://site.test/p.avif",)
    assert {r.alt for r in refs.values()} == {"Portrait"}
    assert refs["http://site.test/p.webp"].source == "picture"


@pytest.mark.parametrize("attr", ["data-src", "data-original", "data-lazy-src"])
def test_lazy_loading_attributes_win_over_placeholders(attr):
    refs = _by_url(f'<img src="data:image/gif;base64,R0lGOD" {attr}="/real.jpg" alt="Real">'
                   f'<img src="/spinner.gif" {attr}="/real2.jpg">')
    assert refs["http://site.test/real.jpg"].source == "lazy"
    assert refs["http://site.test/real2.jpg"].alternates == ()  # the placeholder is no rendition
    assert "http://site.test/spinner.gif" not in refs
    assert not any(u.startswith("data:") for u in refs)


def test_lazy_srcset_and_background_attributes():
    refs = _by_url('<img data-srcset="/l-1x.jpg 1x, /l-2x.jpg 2x"><div data-bg="url(/bg.jpg)"></div>'
                   '<section data-background-image="/bg2.jpg"></section>')
    assert refs["http://site.test/l-2x.jpg"].source == "lazy"
    assert refs["http://site.test/l-2x.jpg"].alternates == ("http://site.test/l-1x.jpg",)
    assert {"http://site.test/bg.jpg", "http://site.test/bg2.jpg"} <= set(refs)


def test_css_backgrounds_in_style_attributes_and_blocks():
    html = """<style>/* url(/commented.jpg) */ .a { background: #000 url( "/a.png" ) no-repeat }
    .b{background-image:url('/b.jpg'), linear-gradient(red, blue)} @font-face { src: url(/f.woff2) }
    .c { cursor: url(/c.cur), auto; border-image: url(/frame.png) 30 }</style>
    <div style="background-image: url(/d.jpg); color: red">x</div><p style="color: red">no image</p>"""
    urls = set(_by_url(html))
    assert urls == {"http://site.test/a.png", "http://site.test/b.jpg", "http://site.test/frame.png",
                    "http://site.test/d.jpg"}
    assert css_image_urls("background:url(x.png)") == ["x.png"] and css_image_urls(None) == []


def test_meta_tags_and_image_links():
    html = """<head><meta property="og:image" content="/og.jpg"><meta property="og:image:alt" content="Cover">
    <meta name="twitter:image" content="https://cdn.test/tw.png"><link rel="image_src" href="/share.jpg"></head>
    <body><a href="/full/big.JPG?download=1#top" title="Full size">zoom</a><a href="/page.html">page</a>
    <a href="/thumb.php?id=3">not an image file</a></body>"""
    refs = _by_url(html)
    assert refs["http://site.test/og.jpg"].alt == "Cover" and refs["http://site.test/og.jpg"].source == "meta"
    assert "https://cdn.test/tw.png" in refs and "http://site.test/share.jpg" in refs
    big = refs["http://site.test/full/big.JPG?download=1"]
    assert big.source == "link" and big.alt == "Full size"
    assert "http://site.test/page.html" not in refs and "http://site.test/thumb.php?id=3" not in refs


def test_base_href_relative_urls_and_query_strings():
    refs = _by_url('<head><base href="https://media.test/v2/"></head><img src="x.jpg?w=800&amp;q=80">'
                   '<img src="../up.jpg"><img src="//cdn.test/proto.jpg"><img src="/root.jpg">')
    assert set(refs) == {"https://media.test/v2/x.jpg?w=800&q=80", "https://media.test/up.jpg",
                         "https://cdn.test/proto.jpg", "https://media.test/root.jpg"}
    assert set(_by_url('<img src="rel.jpg">', "http://site.test/a/b/page")) == {"http://site.test/a/b/rel.jpg"}


def test_tracking_pixels_and_non_http_urls_are_ignored():
    html = ('<img src="/px.gif" width="1" height="1"><img src="/px2.gif" width="2px" height="2">'
            '<img src="/wide.gif" width="1" height="50"><img src="javascript:alert(1)"><img src="">'
            '<img src="blob:http://site.test/123"><img src="#frag">')
    assert set(_by_url(html)) == {"http://site.test/wide.gif"}


def test_one_ref_per_url_in_document_order_with_first_alt():
    refs = extract_images('<img src="/a.jpg"><img src="/b.jpg" alt="B"><img src="/a.jpg" alt="A later">', PAGE)
    assert [r.url for r in refs] == ["http://site.test/a.jpg", "http://site.test/b.jpg"]
    assert refs[0].alt == "A later"  # the first alt text found, wherever it was


def test_main_image_is_not_also_an_alternate():
    refs = _by_url('<img src="/small.jpg" srcset="/small.jpg 1x, /big.jpg 2x"><img src="/small.jpg" alt="s">')
    assert refs["http://site.test/big.jpg"].alternates == ()
    assert "http://site.test/small.jpg" in refs


def test_helpers():
    assert is_image_url("http://x/a/b.webp?x=1") and not is_image_url("http://x/jpg/") and not is_image_url("http://x/a")
    assert resolve(PAGE, "mailto:a@b") is None and resolve(PAGE, " /x.jpg#f ") == "http://site.test/x.jpg"
    assert extract_title("<title>  Hello\n world </title>") == "Hello world" and extract_title("") is None
    assert extract_images("", PAGE) == [] and extract_images("not html at all", PAGE) == []
