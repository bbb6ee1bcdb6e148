"""Read a PyTorch *legacy* (non-zip) ``.pth`` state dict into NumPy arrays, without torch.

The legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``)
is a sequence of pickles: magic number, protocol version, system info, the
state dict (tensors point at storages through ``persistent_load``), the list
of storage keys; then, for each key in that order, an 8-byte little-endian
element count followed by the storage's raw bytes.

Unpickling is restricted to the handful of globals such a file needs, so a
hostile file cannot run code.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from navee_monitor.errors import ModelError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: Any


@dataclass
class _TensorRef:
    key: str
    dtype: Any
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *_):
    key, dtype = storage
    return _TensorRef(key, dtype, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise ModelError(f"unexpected object {module}.{name} in a PyTorch weights file; refusing to load it")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise ModelError(f"unexpected persistent id {pid!r} in a PyTorch weights file")
        storage_type, key = pid[1], str(pid[2])
        if pid[5] is not None:
            raise ModelError("storage views are not supported in legacy PyTorch files")
        return key, storage_type.dtype


def _load_pickle(fh: BinaryIO) -> Any:
    return _Unpickler(fh).load()


def read_legacy_state_dict(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """All tensors of a legacy ``.pth`` state dict, as NumPy arrays (copies)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            magic = _load_pickle(fh)
            if magic != LEGACY_MAGIC:
                raise ModelError(f"{path} is not a legacy PyTorch file (zip-format files need torch)")
            protocol = _load_pickle(fh)
            sys_info = _load_pickle(fh)
            if protocol != 1001 or not sys_info.get("little_endian", True):
                raise ModelError(f"{path}: unsupported legacy PyTorch protocol {protocol} / {sys_info}")
            state = _load_pickle(fh)
            keys = _load_pickle(fh)
            storages: dict[str, np.ndarray] = {}
            dtypes = {ref.key: ref.dtype for ref in state.values() if isinstance(ref, _TensorRef)}
            for key in keys:
                (count,) = struct.unpack("<q", fh.read(8))
                dtype = np.dtype(dtypes.get(key, np.uint8))
                raw = fh.read(count * dtype.itemsize)
                if len(raw) != count * dtype.itemsize:
                    raise ModelError(f"{path} is truncated (storage {key})")
                storages[key] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    except (OSError, pickle.UnpicklingError, EOFError, struct.error, AttributeError, TypeError) as exc:
        raise ModelError(f"cannot read PyTorch weights file {path}: {exc}") from exc
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            continue
        flat = storages[ref.key]
        itemsize = flat.dtype.itemsize
        if not ref.size:
            out[name] = flat[ref.offset: ref.offset + 1].reshape(()).copy()
            continue
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset:], shape=ref.size, strides=tuple(s * itemsize for s in ref.stride), writeable=False
        )
        out[name] = np.array(view)
    return out
