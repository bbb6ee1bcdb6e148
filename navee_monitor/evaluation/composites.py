"""Hard transforms that put the artwork inside a larger picture.

Mock-ups paste it small onto a photograph, collages combine it with other
pictures, screenshots wrap a scaled copy in browser chrome, memes add caption
bars. All are implemented here (AugLy's ``meme_format`` fails with current
Pillow); each stays a ``(rgb, rng) -> rgb`` function, closed over the pool of
pictures it draws from.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from navee_monitor.evaluation.transforms import (
    TransformSpec,
    fit_text,
    font,
    random_color,
    to_pil,
    to_rgb,
    words,
)

#: pool pictures are loaded at most this large (they are backgrounds/fillers)
POOL_MAX_SIDE = 1024


@lru_cache(maxsize=64)
def load_pool_image(path: str) -> Image.Image:
    with Image.open(path) as img:
        img.draft("RGB", (POOL_MAX_SIDE, POOL_MAX_SIDE))
        out = img.convert("RGB")
    out.thumbnail((POOL_MAX_SIDE, POOL_MAX_SIDE), Image.Resampling.LANCZOS)
    return out


def _pick(pool: Sequence[Path], rng: np.random.Generator) -> Image.Image:
    return load_pool_image(str(pool[int(rng.integers(len(pool)))])).copy()


def _fit(img: Image.Image, box_w: int, box_h: int) -> Image.Image:
    scale = min(box_w / img.width, box_h / img.height)
    return img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.LANCZOS)


def make_mockup(backgrounds: Sequence[Path]):
    def mockup(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The artwork printed small (15-35 % of the width) on a photograph, with a drop shadow."""
        bg = _pick(backgrounds, rng)
        art = to_pil(rgb)
        target_w = int(bg.width * rng.uniform(0.15, 0.35))
        art = _fit(art, target_w, int(bg.height * 0.6))
        x = int(rng.integers(0, max(1, bg.width - art.width)))
        y = int(rng.integers(0, max(1, bg.height - art.height)))
        shadow = Image.new("L", bg.size, 0)
        off = max(2, art.width // 40)
        ImageDraw.Draw(shadow).rectangle([x + off, y + off, x + art.width + off, y + art.height + off], fill=120)
        shadow = shadow.filter(ImageFilter.GaussianBlur(off))
        bg.paste((0, 0, 0), (0, 0), shadow)
        bg.paste(art, (x, y))
        return to_rgb(bg)

    return mockup


def make_collage(fillers: Sequence[Path]):
    def collage(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A 2x2, 1x3 or 3x1 grid; the artwork fills one cell, other pictures the rest."""
        rows, cols = [(2, 2), (1, 3), (3, 1)][int(rng.integers(3))]
        cell = 400
        gap = int(rng.integers(0, 12))
        canvas = Image.new("RGB", (cols * cell + (cols + 1) * gap, rows * cell + (rows + 1) * gap), random_color(rng))
        target = int(rng.integers(rows * cols))
        for i in range(rows * cols):
            pic = to_pil(rgb) if i == target else _pick(fillers, rng)
            r, c = divmod(i, cols)
            # fill the cell (centre crop), as collage apps do
            scale = max(cell / pic.width, cell / pic.height)
            pic = pic.resize((max(cell, int(pic.width * scale)), max(cell, int(pic.height * scale))), Image.Resampling.LANCZOS)
            left, top = (pic.width - cell) // 2, (pic.height - cell) // 2
            pic = pic.crop((left, top, left + cell, top + cell))
            canvas.paste(pic, (gap + c * (cell + gap), gap + r * (cell + gap)))
        return to_rgb(canvas)

    return collage


def screenshot_browser(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A desktop browser window: tab strip, address bar, site header, sidebar
    text, and the artwork scaled into the page."""
    width = int(rng.choice([1024, 1280, 1366]))
    height = int(width * rng.uniform(0.55, 0.7))
    page_bg = tuple(int(v) for v in rng.integers(225, 256, 3))
    shot = Image.new("RGB", (width, height), page_bg)
    d = ImageDraw.Draw(shot)
    dark = bool(rng.random() < 0.3)
    chrome = (53, 54, 58) if dark else (222, 225, 230)
    ink = (230, 230, 230) if dark else (40, 40, 40)
    d.rectangle([0, 0, width, 78], fill=chrome)
    for i, cx in enumerate((14, 34, 54)):  # window buttons
        d.ellipse([cx - 6, 10, cx + 6, 22], fill=[(255, 95, 87), (255, 189, 46), (39, 201, 63)][i])
    d.rounded_rectangle([80, 6, 330, 34], radius=8, fill=page_bg)
    d.text((92, 12), words(rng, 2).title(), font=font(14), fill=(40, 40, 40))
    d.rounded_rectangle([90, 44, width - 120, 70], radius=12, fill=(255, 255, 255) if not dark else (32, 33, 36))
    d.text((110, 49), f"https://www.{words(rng, 1)}-{words(rng, 1)}.com/{words(rng, 1)}/{int(rng.integers(10**6))}", font=font(14), fill=ink)
    header = random_color(rng)
    d.rectangle([0, 78, width, 130], fill=header)
    d.text((24, 90), words(rng, 2).upper(), font=font(26), fill=(255, 255, 255))
    sidebar_w = int(width * rng.uniform(0.25, 0.35))
    for line in range(int((height - 160) / 24)):
        d.text((width - sidebar_w + 16, 150 + line * 24), words(rng, 4), font=font(15), fill=(80, 80, 80))
    art = _fit(to_pil(rgb), width - sidebar_w - 60, height - 180)
    shot.paste(art, (30, 150))
    return to_rgb(shot)


def meme(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Classic meme layout: a white caption bar above (and sometimes below) the picture."""
    img = to_pil(rgb)
    w, h = img.size
    bar = int(h * rng.uniform(0.15, 0.3))
    bottom = bool(rng.random() < 0.5)
    out = Image.new("RGB", (w, h + bar * (2 if bottom else 1)), (255, 255, 255))
    out.paste(img, (0, bar))
    d = ImageDraw.Draw(out)
    for top in [0] + ([h + bar] if bottom else []):
        text = words(rng, int(rng.integers(3, 7))).upper()
        f = fit_text(d, text, int(w * 0.92), int(bar * 0.5))
        x0, y0, x1, y1 = d.textbbox((0, 0), text, font=f)
        d.text(((w - (x1 - x0)) / 2, top + (bar - (y1 - y0)) / 2 - y0), text, font=f, fill=(0, 0, 0))
    return to_rgb(out)


def composite_transforms(backgrounds: list[Path], fillers: list[Path]) -> list[TransformSpec]:
    specs = [
        TransformSpec("screenshot_browser", "hard", screenshot_browser, "own"),
        TransformSpec("meme", "hard", meme, "own"),
    ]
    if backgrounds:
        specs.append(TransformSpec("mockup", "hard", make_mockup(backgrounds), "own"))
    if fillers:
        specs.append(TransformSpec("collage", "hard", make_collage(fillers), "own"))
    return specs
