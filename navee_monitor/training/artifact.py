"""The trained-model artifact: a directory the embedder loads by configuration.

Layout::

    <artifact>/
      manifest.json        format version, spec, preprocessing, dims, sha256, data, metrics
      model.weights.h5     weights of the whole trained network (backbone + head)

The architecture is rebuilt from the manifest's spec (no pickled code, no
custom-layer deserialisation) and the weights are loaded into it. The
``weights_sha256`` is computed over the weight *values* (not the file, whose
HDF5 bytes differ between two saves of the same values) and checked at load;
it is part of the embedder's ``model_version``, so descriptors computed with
other weights are never compared with this model's.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from navee_monitor.errors import ModelError
from navee_monitor.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "model.weights.h5"


def _digest(model) -> str:
    from navee_monitor.descriptors.embedder import weights_digest

    return weights_digest(model)


def save_artifact(out_dir: Path, networks, *, data_summary: dict, metrics: dict,
                  training: dict | None = None) -> dict:
    """Write the artifact (an existing artifact there is replaced); returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    networks.train_model.save_weights(str(out_dir / WEIGHTS))
    spec = networks.spec
    manifest = {
        "format_version": FORMAT_VERSION,
        "objective": spec.objective,
        "backbone": spec.backbone,
        "input_size": spec.image_size,
        "preprocessing_id": networks.preprocessing_id,
        "embedding_dim": spec.output_dim,
        "spec": spec.as_dict(),
        "weights_file": WEIGHTS,
        "weights_sha256": _digest(networks.train_model),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_data": data_summary,
        "training": training or {},
        "metrics": metrics,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, default=float), encoding="utf-8")
    log.info("model artifact written to %s (sha256 %s)", out_dir, manifest["weights_sha256"][:16])
    return manifest


def read_manifest(path: Path) -> tuple[Path, dict]:
    """(artifact directory, manifest); ``path`` is the directory or its manifest.json."""
    path = Path(path).expanduser()
    directory = path.parent if path.name == MANIFEST else path
    mf = directory / MANIFEST
    if not mf.is_file():
        raise ModelError(f"{path} is not a navee-monitor model artifact (no {MANIFEST}); "
                         "create one with `navee-monitor train`")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {mf}: {exc}") from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(f"{mf}: artifact format {version!r} is not supported (this version reads {FORMAT_VERSION})")
    return directory, manifest


def load_networks(path: Path, models_dir: Path):
    """Rebuild the networks of an artifact and load its weights (checked against the manifest)."""
    from navee_monitor.training.models import ModelSpec, build_networks

    directory, manifest = read_manifest(path)
    try:
        spec = ModelSpec(**manifest["spec"])
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{directory / MANIFEST}: bad or missing 'spec' ({exc})") from exc
    networks = build_networks(spec, models_dir, pretrained=False)
    weights = directory / manifest.get("weights_file", WEIGHTS)
    if not weights.is_file():
        raise ModelError(f"model artifact {directory}: weights file {weights.name} is missing")
    try:
        networks.train_model.load_weights(str(weights))
    except Exception as exc:  # noqa: BLE001 - h5py/keras raise many types
        raise ModelError(f"cannot load the weights of model artifact {directory}: {exc}") from exc
    sha = _digest(networks.train_model)
    if sha != manifest.get("weights_sha256"):
        raise ModelError(f"model artifact {directory}: weights do not match the manifest's sha256 "
                         "(file changed or truncated); train again or restore the file")
    return networks, manifest


def load_embedder(path: str | Path, settings: Settings):
    """The artifact as an :class:`~navee_monitor.descriptors.base.Embedder` (a ``KerasEmbedder``)."""
    from navee_monitor.descriptors.embedder import KerasEmbedder, configure_threads

    configure_threads(settings.embedding.threads)
    networks, manifest = load_networks(Path(path), settings.path("models"))
    sha = manifest["weights_sha256"]
    embedder = KerasEmbedder(
        networks.embedding_model, backbone=f"trained-{manifest['objective']}-{manifest['backbone']}",
        weights_id=sha, image_size=int(manifest["input_size"]), batch_size=settings.embedding.batch_size,
        preprocess=networks.preprocess,
    )
    # the full sha256: a retrained model never shares descriptors with this one
    embedder.model_version = (f"trained-{manifest['objective']}-{manifest['backbone']}-{sha}-"
                              f"{manifest['preprocessing_id']}")
    embedder.manifest = manifest
    return embedder
