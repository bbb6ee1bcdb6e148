"""Model versions travel with descriptors; descriptors of different versions never mix."""

from __future__ import annotations

from navee_monitor.errors import ModelError


def ensure_same_version(a: str, b: str) -> None:
    """Raise ModelError unless the two model versions are identical."""
    if a != b:
        raise ModelError(
            f"descriptors of model {a} cannot be compared with model {b}: "
            "run `navee-monitor index rebuild`"
        )


def combine_versions(model_version: str, whitening_version: str | None) -> str:
    """Version of whitened descriptors: the backbone's plus the whitening's."""
    return f"{model_version}+{whitening_version}" if whitening_version else model_version
