"""What the spider hands the pipeline: one item per page, with the images it shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from navee_crawler.extract import ImageRef


@dataclass
class PageItem:
    """A crawled page (or a page that failed: ``error_reason`` set, no images)."""

    url: str
    status: int | None = None
    title: str | None = None
    depth: int = 0
    images: list[ImageRef] = field(default_factory=list)
    error_reason: str | None = None
    error: str | None = None

    def image_plan(self) -> list[tuple[ImageRef, str, bool]]:
        """(image, URL to fetch, is the main rendition) in a fixed order; the pipeline
        issues its requests and reads its results in this order."""
        plan: list[tuple[ImageRef, str, bool]] = []
        for ref in self.images:
            plan.append((ref, ref.url, True))
            plan.extend((ref, alt, False) for alt in ref.alternates)
        return plan
