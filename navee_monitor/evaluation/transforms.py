"""The transformation suite: how stolen copies of artworks get modified.

Every transform is a named function ``(rgb, rng) -> rgb`` (RGB uint8 arrays,
``rng`` a ``numpy.random.Generator``), so a query is reproducible from its
seed alone. Transforms are grouped by how hard they are for a matcher:

* mild: re-encoding and global edits a re-upload goes through;
* medium: edits that hide or move part of the picture;
* hard: the artwork is a small part of a larger picture, or several edits
  are combined.

AugLy 1.0 is used where it works with current Pillow/numpy, always with
keyword arguments (``perspective_transform`` and ``meme_format`` are broken
there, and positional arguments of ``rotate``/``blur``/``encoding_quality``
are mis-bound); the rest is implemented here with Pillow/OpenCV. Composites
that need other pictures (mock-ups, collages) are in :mod:`.composites`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
GROUPS = ("mild", "medium", "hard")
#: no transform output is larger than this on its longest side
MAX_OUTPUT_SIDE = 1600

_WORDS = (
    "art print poster sale free shipping original canvas limited edition new "
    "gallery summer collection wall decor gift home studio design shop best "
    "price today only handmade exclusive modern classic vintage"
).split()


@dataclass(frozen=True)
class TransformSpec:
    name: str
    group: str
    fn: Transform
    #: "augly" or "own" (implemented here), for the README table
    implementation: str


# ---- helpers ---------------------------------------------------------------


def _augly():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import augly.image as imaugs
    return imaugs


def to_pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")


def to_rgb(img: Image.Image) -> np.ndarray:
    img = img.convert("RGB")
    if max(img.size) > MAX_OUTPUT_SIDE:
        img.thumbnail((MAX_OUTPUT_SIDE, MAX_OUTPUT_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8).copy()


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font: works offline, no system fonts needed."""
    return ImageFont.load_default(size=max(8, int(size)))


def words(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), n))


def random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]


def fit_text(draw: ImageDraw.ImageDraw, text: str, max_width: int, start_size: int):
    """The largest bundled font size (from ``start_size`` down) at which ``text`` fits."""
    size = start_size
    while size > 8:
        f = font(size)
        if draw.textlength(text, font=f) <= max_width:
            return f
        size = int(size * 0.85)
    return font(8)


def _crop_fraction(rgb: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """Keep a random window whose sides are ``lo..hi`` of the original sides."""
    h, w = rgb.shape[:2]
    fw, fh = rng.uniform(lo, hi), rng.uniform(lo, hi)
    cw, ch = max(16, int(w * fw)), max(16, int(h * fh))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return rgb[y0 : y0 + ch, x0 : x0 + cw].copy()


# ---- mild ------------------------------------------------------------------


def jpeg_recompress(rgb, rng):
    quality = int(rng.integers(15, 40))
    return to_rgb(_augly().encoding_quality(to_pil(rgb), quality=quality))


def downscale(rgb, rng):
    return to_rgb(_augly().scale(to_pil(rgb), factor=float(rng.uniform(0.25, 0.5))))


def grayscale(rgb, rng):
    return to_rgb(_augly().grayscale(to_pil(rgb)))


def color_shift(rgb, rng):
    return to_rgb(
        _augly().color_jitter(
            to_pil(rgb),
            brightness_factor=float(rng.uniform(0.7, 1.3)),
            contrast_factor=float(rng.uniform(0.7, 1.4)),
            saturation_factor=float(rng.choice([rng.uniform(0.3, 0.7), rng.uniform(1.4, 2.0)])),
        )
    )


def hue_shift(rgb, rng):
    # AugLy has no hue rotation; rotate the hue channel in HSV
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    shift = int(rng.integers(15, 40)) * int(rng.choice([-1, 1]))
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def blur(rgb, rng):
    return to_rgb(_augly().blur(to_pil(rgb), radius=float(rng.uniform(1.5, 3.5))))


def noise(rgb, rng):
    return to_rgb(
        _augly().random_noise(to_pil(rgb), mean=0.0, var=float(rng.uniform(0.005, 0.02)), seed=int(rng.integers(1 << 30)))
    )


def crop_mild(rgb, rng):
    return _crop_fraction(rgb, rng, 0.85, 0.95)


def hflip(rgb, rng):
    return to_rgb(_augly().hflip(to_pil(rgb)))


def border(rgb, rng):
    f = float(rng.uniform(0.05, 0.2))
    return to_rgb(_augly().pad(to_pil(rgb), w_factor=f, h_factor=f, color=random_color(rng)))


# ---- medium ----------------------------------------------------------------


def crop_medium(rgb, rng):
    return _crop_fraction(rgb, rng, 0.6, 0.75)


def vflip(rgb, rng):
    return to_rgb(_augly().vflip(to_pil(rgb)))


def rotate_small(rgb, rng):
    degrees = float(rng.uniform(5, 25)) * float(rng.choice([-1, 1]))
    return to_rgb(_augly().rotate(to_pil(rgb), degrees=degrees))


def rotate_90(rgb, rng):
    return np.ascontiguousarray(np.rot90(rgb, k=int(rng.choice([1, 3]))))


def frame(rgb, rng):
    """A passe-partout and a bevelled wooden frame, as in a photographed framed print."""
    img = to_pil(rgb)
    w, h = img.size
    mat = int(min(w, h) * rng.uniform(0.04, 0.12))
    bar = int(min(w, h) * rng.uniform(0.04, 0.09)) + 2
    wood = tuple(int(c) for c in np.array([120, 80, 40]) * rng.uniform(0.5, 1.3))
    out = Image.new("RGB", (w + 2 * (mat + bar), h + 2 * (mat + bar)), wood)
    draw = ImageDraw.Draw(out)
    for i in range(bar):  # bevel: lighter outside, darker inside
        shade = int(60 * (1 - i / bar))
        c = tuple(min(255, v + shade) for v in wood)
        draw.rectangle([i, i, out.width - 1 - i, out.height - 1 - i], outline=c)
    draw.rectangle([bar, bar, out.width - 1 - bar, out.height - 1 - bar], fill=(236, 232, 222))
    out.paste(img, (bar + mat, bar + mat))
    return to_rgb(out)


def caption(rgb, rng):
    """A credit/caption line printed on the picture, as on re-posts."""
    img = to_pil(rgb)
    draw = ImageDraw.Draw(img, "RGBA")
    text = words(rng, int(rng.integers(3, 7)))
    f = fit_text(draw, text, int(img.width * 0.9), int(img.height * rng.uniform(0.05, 0.1)))
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=f)
    x = int(rng.uniform(0.02, 0.98) * max(1, img.width - (x1 - x0)))
    y = int(rng.uniform(0.05, 0.95) * max(1, img.height - (y1 - y0)))
    if rng.random() < 0.5:
        draw.rectangle([x - 4, y - 4 + y0, x + x1 + 4, y + y1 + 4], fill=(0, 0, 0, 150))
    draw.text((x, y), text, font=f, fill=random_color(rng) + (255,))
    return to_rgb(img)


def overlay_text(rgb, rng):
    """AugLy's random glyphs from its bundled fonts, big and opaque."""
    imaugs = _augly()
    from augly.utils import FONTS_DIR

    fonts = sorted(p for p in Path(FONTS_DIR).glob("*.ttf") if "Noto" in p.name and "Regular" in p.name)
    font_file = str(fonts[int(rng.integers(len(fonts)))]) if fonts else None
    text = [[int(i) for i in rng.integers(0, 500, int(rng.integers(5, 12)))] for _ in range(int(rng.integers(1, 3)))]
    kwargs = {"font_file": font_file} if font_file else {}
    return to_rgb(
        imaugs.overlay_text(
            to_pil(rgb),
            text=text,
            font_size=float(rng.uniform(0.08, 0.15)),
            opacity=float(rng.uniform(0.7, 1.0)),
            color=random_color(rng),
            x_pos=float(rng.uniform(0, 0.4)),
            y_pos=float(rng.uniform(0, 0.7)),
            **kwargs,
        )
    )


@lru_cache(maxsize=1)
def _emoji_paths() -> tuple[str, ...]:
    from augly.utils import EMOJI_DIR

    return tuple(sorted(str(p) for p in Path(EMOJI_DIR).rglob("*.png")))


def emoji(rgb, rng):
    img = to_pil(rgb)
    paths = _emoji_paths()
    for _ in range(int(rng.integers(1, 4))):
        img = _augly().overlay_emoji(
            img,
            emoji_path=paths[int(rng.integers(len(paths)))],
            opacity=1.0,
            emoji_size=float(rng.uniform(0.15, 0.3)),
            x_pos=float(rng.uniform(0, 0.75)),
            y_pos=float(rng.uniform(0, 0.75)),
        )
    return to_rgb(img)


def logo(rgb, rng):
    """A shop logo (badge + name) stamped in a corner."""
    img = to_pil(rgb).convert("RGBA")
    side = int(min(img.size) * rng.uniform(0.15, 0.3))
    badge = Image.new("RGBA", (side * 3, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(badge)
    color = random_color(rng)
    d.ellipse([0, 0, side - 1, side - 1], fill=color + (230,))
    d.regular_polygon((side / 2, side / 2, side / 3), int(rng.integers(3, 7)), fill=(255, 255, 255, 230))
    d.text((side + 6, side * 0.2), words(rng, 1).upper(), font=font(side * 0.5), fill=color + (230,))
    corner = int(rng.integers(4))
    x = 8 if corner in (0, 2) else max(0, img.width - badge.width - 8)
    y = 8 if corner in (0, 1) else max(0, img.height - badge.height - 8)
    img.alpha_composite(badge, (x, y))
    return to_rgb(img)


def watermark(rgb, rng):
    """Stock-site style: a semi-transparent text tiled diagonally over the whole picture."""
    img = to_pil(rgb).convert("RGBA")
    w, h = img.size
    layer = Image.new("RGBA", (w * 2, h * 2), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    text = "© " + words(rng, 2)
    f = font(max(14, min(w, h) * rng.uniform(0.07, 0.12)))
    step_x = int(d.textlength(text, font=f) * 1.3) + 10
    step_y = int(f.size * 3) if hasattr(f, "size") else 40
    alpha = int(rng.integers(90, 160))
    for yy in range(0, layer.height, step_y):
        for xx in range(-step_x, layer.width, step_x):
            d.text((xx + (yy // step_y % 2) * step_x // 2, yy), text, font=f, fill=(255, 255, 255, alpha),
                   stroke_width=1, stroke_fill=(0, 0, 0, alpha // 2))
    layer = layer.rotate(float(rng.uniform(20, 45)), resample=Image.Resampling.BILINEAR)
    layer = layer.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    img.alpha_composite(layer)
    return to_rgb(img)


def aspect_ratio(rgb, rng):
    h, w = rgb.shape[:2]
    factor = float(rng.choice([rng.uniform(0.55, 0.8), rng.uniform(1.25, 1.8)]))
    return to_rgb(_augly().change_aspect_ratio(to_pil(rgb), ratio=(w / h) * factor))


def perspective(rgb, rng):
    # AugLy's perspective_transform uses the removed ``np.float``: own OpenCV version
    h, w = rgb.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(0.04, 0.15, size=(4, 2)) * np.array([w, h])
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = (src + jitter * signs).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, matrix, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=random_color(rng))


# ---- hard (single-image) ---------------------------------------------------


def crop_hard(rgb, rng):
    return _crop_fraction(rgb, rng, 0.4, 0.55)


def combo_mild(rgb, rng):
    """Recoloured, recompressed, rescaled and cropped: a typical re-upload chain."""
    out = color_shift(rgb, rng)
    out = crop_mild(out, rng)
    out = downscale(out, rng)
    return jpeg_recompress(out, rng)


def combo_hard(rgb, rng):
    """Three random medium edits, then recompression."""
    steps = [crop_medium, rotate_small, caption, emoji, border, aspect_ratio, perspective, hflip, grayscale, blur]
    out = rgb
    for i in rng.choice(len(steps), size=3, replace=False):
        out = steps[int(i)](out, rng)
    return jpeg_recompress(out, rng)


def screenshot_social(rgb, rng):
    """AugLy's bundled web/mobile social-media screenshot templates."""
    from augly.utils import SCREENSHOT_TEMPLATES_DIR

    template = Path(SCREENSHOT_TEMPLATES_DIR) / str(rng.choice(["web.png", "mobile.png"]))
    return to_rgb(
        _augly().overlay_onto_screenshot(to_pil(rgb), template_filepath=str(template), crop_src_to_fit=bool(rng.random() < 0.5))
    )


SINGLE_IMAGE_TRANSFORMS: list[tuple[Transform, str, str]] = [
    (jpeg_recompress, "mild", "augly"),
    (downscale, "mild", "augly"),
    (grayscale, "mild", "augly"),
    (color_shift, "mild", "augly"),
    (hue_shift, "mild", "own"),
    (blur, "mild", "augly"),
    (noise, "mild", "augly"),
    (crop_mild, "mild", "own"),
    (hflip, "mild", "augly"),
    (border, "mild", "augly"),
    (crop_medium, "medium", "own"),
    (vflip, "medium", "augly"),
    (rotate_small, "medium", "augly"),
    (rotate_90, "medium", "own"),
    (frame, "medium", "own"),
    (caption, "medium", "own"),
    (overlay_text, "medium", "augly"),
    (emoji, "medium", "augly"),
    (logo, "medium", "own"),
    (watermark, "medium", "own"),
    (aspect_ratio, "medium", "augly"),
    (perspective, "medium", "own"),
    (crop_hard, "hard", "own"),
    (screenshot_social, "hard", "augly"),
    (combo_mild, "hard", "augly"),
    (combo_hard, "hard", "own"),
]


def build_suite(backgrounds: list[Path] | tuple[Path, ...] = (), fillers: list[Path] | tuple[Path, ...] = ()) -> dict[str, TransformSpec]:
    """All transforms by name. ``backgrounds`` are photographs for mock-ups,
    ``fillers`` are pictures (not references) that collages combine with the
    artwork; without them, the transforms that need them are left out."""
    from navee_monitor.evaluation import composites

    suite = {fn.__name__: TransformSpec(fn.__name__, group, fn, impl) for fn, group, impl in SINGLE_IMAGE_TRANSFORMS}
    for spec in composites.composite_transforms(list(backgrounds), list(fillers)):
        suite[spec.name] = spec
    return suite
