"""Alert rows for review tests, written through the ORM with real image files.

Images come from ../shared/data (never copied into the repository): a
reference is stored like the reference store does (``references/<sha[:2]>/<sha>.jpg``),
a found image is a real photograph with the artwork pasted into it (a mock-up),
stored content-addressed under ``images/``, and the evidence thumbnail has the
matched region drawn like the matcher's.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw

from navee_monitor.settings import Settings
from navee_monitor.store import db
from navee_monitor.store.models import (
    AlertEventRow,
    AlertRow,
    ImageOccurrenceRow,
    ReferenceRow,
    SiteRow,
    WebImageRow,
)
from tests.helpers.shared import art_images, photo_images

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _jpeg(im: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class AlertFactory:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.database_url
        self._arts = art_images(12)
        self._photos = photo_images(6)
        self._n = 0

    def _write(self, rel: str, data: bytes) -> str:
        path = self.settings.data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return rel

    def reference(self, key: str, art_index: int = 0, collection: str = "default") -> int:
        src = self._arts[art_index % len(self._arts)]
        im = Image.open(src)
        im.thumbnail((512, 512))
        data = _jpeg(im)
        sha = hashlib.sha256(data).hexdigest()
        rel = self._write(f"references/{sha[:2]}/{sha}.jpg", data)
        with db.session_scope(self.url) as s:
            row = ReferenceRow(key=key, collection=collection, source="folder", source_uri=str(src), sha256=sha,
                               size_bytes=len(data), width=im.width, height=im.height, labels={}, status="ok",
                               image_path=rel)
            s.add(row)
            s.flush()
            return row.id

    def site(self, name: str) -> int:
        with db.session_scope(self.url) as s:
            row = SiteRow(name=name)
            s.add(row)
            s.flush()
            return row.id

    def found_image(self, art_index: int = 0, photo_index: int = 0) -> tuple[int, list[int]]:
        """A photograph with artwork ``art_index`` pasted into it; returns (web_image id, bbox)."""
        self._n += 1
        photo = Image.open(self._photos[photo_index % len(self._photos)]).convert("RGB")
        photo.thumbnail((800, 800))
        art = Image.open(self._arts[art_index % len(self._arts)]).convert("RGB")
        art.thumbnail((photo.width // 2, photo.height // 2))
        x, y = photo.width // 4 + self._n % 7, photo.height // 5
        photo.paste(art, (x, y))
        data = _jpeg(photo)
        sha = hashlib.sha256(data).hexdigest()
        rel = self._write(f"images/{sha[:2]}/{sha}", data)
        with db.session_scope(self.url) as s:
            row = WebImageRow(sha256=sha, size_bytes=len(data), width=photo.width, height=photo.height,
                              content_type="image/jpeg", storage_path=rel, status="matched")
            s.add(row)
            s.flush()
            return row.id, [x, y, art.width, art.height]

    def thumbnail(self, web_image_id: int, bbox: list[int] | None) -> str:
        with db.session_scope(self.url) as s:
            img = s.get(WebImageRow, web_image_id)
            sha, rel_img = img.sha256, img.storage_path
        im = Image.open(self.settings.data_dir / rel_img).convert("RGB")
        scale = min(1.0, 480 / max(im.size))
        im = im.resize((round(im.width * scale), round(im.height * scale)))
        if bbox:
            x, y, w, h = (v * scale for v in bbox)
            ImageDraw.Draw(im).rectangle([x, y, x + w, y + h], outline=(255, 40, 40), width=3)
        return self._write(f"thumbnails/{sha[:2]}/{sha}-t.jpg", _jpeg(im))

    def occurrence(self, web_image_id: int, page_url: str, image_url: str, site_id: int | None = None,
                   alt_text: str | None = None, page_title: str | None = None,
                   seen: datetime = T0, last_seen: datetime | None = None) -> int:
        with db.session_scope(self.url) as s:
            row = ImageOccurrenceRow(web_image_id=web_image_id, site_id=site_id, page_url=page_url,
                                     image_url=image_url, alt_text=alt_text, page_title=page_title,
                                     first_seen=seen, last_seen=last_seen or seen)
            s.add(row)
            s.flush()
            return row.id

    def alert(self, reference_id: int, web_image_id: int, score: float, bbox: list[int] | None = None,
              method: str | None = None, status: str = "new", seen: datetime = T0,
              last_seen: datetime | None = None, thumbnail: bool = True) -> int:
        thumb = self.thumbnail(web_image_id, bbox) if thumbnail else None
        with db.session_scope(self.url) as s:
            row = AlertRow(reference_id=reference_id, web_image_id=web_image_id, score=score,
                           method=method or ("crop" if bbox else "full"), bbox=bbox, status=status,
                           model_version="efficientnet_lite0-test", thumbnail_path=thumb, details={"inliers": 42},
                           first_seen=seen, last_seen=last_seen or seen)
            s.add(row)
            s.flush()
            s.add(AlertEventRow(alert_id=row.id, at=seen, old_status=None, new_status=status, note="detected",
                                actor="matcher"))
            return row.id

    def scenario(self) -> dict[str, int]:
        """A small inbox: 2 sites, 3 domains, 4 alerts of 3 references, one seen on two pages."""
        ids: dict[str, int] = {}
        shop, blog = self.site("shop"), self.site("blog")
        r1, r2, r3 = self.reference("starry", 0), self.reference("water-lilies", 1), self.reference("sunflowers", 2)
        img1, bb1 = self.found_image(0, 0)
        img2, _ = self.found_image(1, 1)
        img3, bb3 = self.found_image(2, 2)
        img4, bb4 = self.found_image(0, 3)
        self.occurrence(img1, "https://shop.example.com/p/1", "https://cdn.example.com/1.jpg", shop,
                        alt_text="Poster print", page_title="Poster — Shop", seen=T0)
        self.occurrence(img1, "https://www.shop.example.com/p/1?ref=x", "https://cdn.example.com/1.jpg", shop,
                        seen=T0 + timedelta(days=2))
        self.occurrence(img2, "https://blog.other.org/post", "https://blog.other.org/img/2.jpg", blog,
                        alt_text="my painting", seen=T0 + timedelta(days=1))
        self.occurrence(img3, "https://shop.example.com/p/3", "https://cdn.example.com/3.jpg", shop,
                        seen=T0 + timedelta(days=3))
        self.occurrence(img4, "https://mugs.example.net/m/4", "https://mugs.example.net/4.jpg", None,
                        seen=T0 + timedelta(days=4))
        ids["a1"] = self.alert(r1, img1, 0.91, bb1, seen=T0, last_seen=T0 + timedelta(days=2))
        ids["a2"] = self.alert(r2, img2, 0.55, None, seen=T0 + timedelta(days=1))
        ids["a3"] = self.alert(r3, img3, 0.72, bb3, seen=T0 + timedelta(days=3), thumbnail=False)
        ids["a4"] = self.alert(r1, img4, 0.64, bb4, seen=T0 + timedelta(days=4))
        ids.update(r1=r1, r2=r2, r3=r3, shop=shop, blog=blog, img1=img1, img4=img4)
        return ids
