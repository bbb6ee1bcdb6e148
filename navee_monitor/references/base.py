"""The reference source contract: where artworks to protect come from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ReferenceItem:
    key: str
    #: folder | url | bam
    source: str
    #: a local path or an http(s) URL
    uri: str
    labels: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ReferenceSource(Protocol):
    def items(self) -> Iterator[ReferenceItem]: ...
