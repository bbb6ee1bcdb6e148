"""The trained-model artifact: a directory the embedder loads by configuration.

Layout::

    <artifact>/
      manifest.json        format version, spec, preprocessing, dims, sha256, data, metrics,
                           and (once calibrated) the matcher's score model for this descriptor
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


def write_score_model(path: Path, report: dict | None) -> dict:
    """Store a calibration (:func:`navee_monitor.training.calibration.calibrate`'s report) in the
    artifact's manifest as ``score_model`` (None removes it: the matcher's default again); returns
    the manifest. The weights and their sha256 are untouched, so descriptors already computed with
    the model stay valid."""
    from navee_monitor.fileio import write_atomically

    directory, manifest = read_manifest(path)
    if report is None:
        manifest.pop("score_model", None)
    else:
        model = report["model"]
        missing = {"bias", "w_cosine", "w_inliers", "w_coverage"} - set(model)
        if missing:
            raise ModelError(f"score model without {', '.join(sorted(missing))}")
        manifest["score_model"] = {**{k: float(model[k]) for k in ("bias", "w_cosine", "w_inliers", "w_coverage")},
                                   "calibration": {k: v for k, v in report.items() if k != "model"}}
    write_atomically(directory / MANIFEST, json.dumps(manifest, indent=2, default=float).encode("utf-8"))
    return manifest


def score_model_of(manifest: dict, pdq_max_distance: int):
    """The artifact's calibrated :class:`~navee_monitor.matching.scoring.ScoreModel`, or None."""
    from navee_monitor.matching.scoring import ScoreModel

    sm = manifest.get("score_model")
    if not sm:
        return None
    try:
        return ScoreModel(bias=float(sm["bias"]), w_cosine=float(sm["w_cosine"]), w_inliers=float(sm["w_inliers"]),
                          w_coverage=float(sm["w_coverage"]), pdq_max_distance=pdq_max_distance)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model artifact: bad 'score_model' in its manifest ({exc})") from exc


def score_model_for(settings: Settings):
    """The score model calibrated for the configured trained model (``embedding.model_path``),
    or None: the matcher's default, fitted for the ImageNet descriptor."""
    path = settings.embedding.model_path
    if not path:
        return None
    path = Path(path).expanduser()
    if not (path.is_dir() or path.name == MANIFEST):
        return None
    return score_model_of(read_manifest(path)[1], settings.matching.pdq_max_distance)


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
    #: the matcher's score model calibrated for this descriptor (None: the default one)
    embedder.score_model = score_model_of(manifest, settings.matching.pdq_max_distance)
    return embedder
