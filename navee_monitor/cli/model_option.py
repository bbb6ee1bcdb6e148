"""``--model PATH``: use a model trained by ``navee-monitor train`` for one command.

Shared by ``match``, ``check-url``, ``evaluate`` and ``index rebuild``: it
overrides ``embedding.model_path`` in that command's settings only (set the
key in config.yaml so that the daemon uses the model too).
"""

from __future__ import annotations

from pathlib import Path

from navee_monitor.errors import UsageError
from navee_monitor.settings import Settings


def add_model_option(parser) -> None:
    parser.add_argument("--model", metavar="PATH",
                        help="a model artifact from `navee-monitor train` (overrides embedding.model_path)")


def with_model(settings: Settings, model: str | None) -> Settings:
    if not model:
        return settings
    path = Path(model).expanduser()
    if not path.exists():
        raise UsageError(f"--model {path}: no such file or folder")
    return settings.model_copy(update={
        "embedding": settings.embedding.model_copy(update={"model_path": str(path.resolve())})})


def apply_model_option(ctx) -> Settings:
    """``ctx.settings`` with ``--model`` applied (unchanged without it)."""
    return with_model(ctx.settings, getattr(ctx.args, "model", None))
