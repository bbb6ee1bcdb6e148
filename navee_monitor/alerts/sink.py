"""The alert sink contract: where batches of new alerts are announced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class AlertBatch:
    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class AlertSink(Protocol):
    def send(self, batch: AlertBatch) -> None:
        """Deliver or raise (``NaveeError`` subclass); callers retry later."""
        ...
