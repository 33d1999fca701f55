"""Library-side half of the real-world corpus generator; runs INSIDE a throwaway venv.

``make_realworld_corpus.py`` (the driver) runs this file with the venv's interpreter:

* ``generate --env ENV OUT``: train tiny seeded models on the CPU with the real libraries of that
  environment (Lightning, transformers, torchvision, timm, stable-baselines3, or bare torch 1.4),
  let the libraries write their checkpoints the way their users get them, and write, from the
  same process, ``<file>.truth.json`` for each (and ``index.json``).
* ``verify-unsafe --env ENV DIR``: UNSAFE ``torch.load`` of every file we just wrote, in the venv
  that wrote it (every class importable), walked the same way: it must reproduce the truth.
  Only our own, benign files, only in the throwaway venv.

The truth walk (``Walker``) lists every tensor (and numpy array) of the object graph as it is
pickled: dicts, lists, tuples, object state (``__getstate__`` where the class defines one, else
``__dict__``), a module's ``state_dict()`` plus its non-persistent buffers and plain tensor
attributes, an optimizer's or LR scheduler's ``state_dict()``. See ``tests/fixtures/realworld/
README.md`` for the format.

Python 3.8 syntax and torch 1.4 APIs only in the shared part: environment ``torch14`` runs it.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import copyreg
import enum
import functools
import hashlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import types
import weakref
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pickle_scan import container_of, main_pickle, pickle_globals  # noqa: E402

TEMPLATE_DIR = HERE / "realworld_template"
PROJECT_PACKAGE = "rwproj"
# Every library writes paths (output_dir, Hydra's runtime.cwd, ...) into its checkpoints: the
# worker runs in this fixed, freshly emptied directory so that those paths reproduce.
WORK_ROOT = Path("/tmp/checkpoint-compat-realworld")  # noqa: S108 - fixed on purpose
SEED = 0
DIGEST_RULE = (
    "sha256 over, for each (key, tensor) in order: key utf-8, str(dtype) e.g. 'torch.float32', "
    "str(tuple(shape)), then the tensor's raw bytes (contiguous, little-endian)"
)
TENSOR_SHA_RULE = (
    "sha256 of the contiguous raw bytes (row-major, little-endian; numpy arrays: "
    "np.ascontiguousarray(a).tobytes())"
)
PY_RANDOM_RULE = (
    "python random.getstate() = (version, internal_state[625 ints], gauss_next): sha256 of "
    "json.dumps([version, list(internal_state), gauss_next], separators=(',', ':'))"
)
CATEGORIES = ("weights", "optimizer", "scheduler", "rng", "scaler", "extra")


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# bytes and digests


def tensor_bytes(tensor: Any) -> bytes:
    """Raw little-endian bytes of ``tensor`` in row-major order."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    try:  # torch >= 1.8 reinterprets any dtype as bytes (bfloat16, complex, ...)
        return flat.view(torch.uint8).numpy().tobytes()
    except (TypeError, RuntimeError):  # torch 1.4: Tensor.view(dtype) does not exist
        return flat.numpy().tobytes()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_dict_digest(items: Any) -> str:
    """``DIGEST_RULE`` over (key, tensor) pairs."""
    digest = hashlib.sha256()
    for key, tensor in items:
        digest.update(str(key).encode("utf-8"))
        digest.update(str(tensor.dtype).encode("utf-8"))
        digest.update(str(tuple(tensor.shape)).encode("utf-8"))
        digest.update(tensor_bytes(tensor))
    return digest.hexdigest()


def state_dict_table(state_dict: Any, of: str) -> dict[str, Any]:
    tensors = [(k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor)]
    return {
        "of": of,
        "keys": [k for k, _ in tensors],
        "n_tensors": len(tensors),
        "numel": int(sum(v.numel() for _, v in tensors)),
        "sha256": state_dict_digest(tensors),
    }


def qualname(obj: Any) -> str:
    # obj.__class__, not type(obj): a weakref.proxy pickles as (and reports) its referent.
    cls = obj if isinstance(obj, type) else getattr(obj, "__class__", type(obj))
    return cls.__module__ + "." + cls.__qualname__


def identity(obj: Any) -> int:
    """What pickle's memo keys on: id(obj). A weakref.proxy is NOT its referent there: pickle
    writes the referent's class and state a second time (sharing the memoized children)."""
    return id(obj)


def storage_key(tensor: Any) -> Any:
    """Identity of a tensor view: equal for two objects that alias the same bytes."""
    if tensor.numel() == 0 or tensor.is_sparse:
        return ("id", id(tensor))
    if hasattr(tensor, "untyped_storage"):
        ptr = tensor.untyped_storage().data_ptr()
    else:
        ptr = tensor.storage().data_ptr()
    return (
        "t",
        int(ptr),
        int(tensor.storage_offset()),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        str(tensor.dtype),
    )


def jsonable(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911
    """A JSON-able rendering of plain data (used for small summaries, never for tensors)."""
    if depth > 20:
        return "<deep>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return {"enum": qualname(value), "name": value.name}
    if isinstance(value, np.generic):
        return {"numpy": str(value.dtype), "value": value.item()}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": len(value), "sha256": sha256_hex(bytes(value))}
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, torch.Tensor):
        return {"tensor": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return {"ref": reference_name(value)}
    return {"object": qualname(value)}


def reference_name(value: Any) -> str:
    module = getattr(value, "__module__", None) or type(value).__module__
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", repr(value))
    return f"{module}.{name}"


def is_python_random_state(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 3
        and isinstance(value[0], int)
        and isinstance(value[1], tuple)
        and len(value[1]) == 625
        and all(isinstance(v, int) for v in value[1][:4])
        and (value[2] is None or isinstance(value[2], float))
    )


def python_random_digest(state: Any) -> str:
    payload = json.dumps([state[0], list(state[1]), state[2]], separators=(",", ":"))
    return sha256_hex(payload.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# the truth walk


_OBJECT_GETSTATE = getattr(object, "__getstate__", None)
_MODULE_INTERNALS = frozenset(
    {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"}
)
_MAX_DEPTH = 80


def pickled_state(obj: Any) -> dict[str, Any]:
    """The attribute dict pickle stores for ``obj``: a custom ``__getstate__`` wins."""
    getstate = getattr(type(obj), "__getstate__", None)
    if getstate is not None and getstate is not _OBJECT_GETSTATE:
        try:
            state = obj.__getstate__()
        except Exception:
            state = None
        if isinstance(state, dict):
            return state
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slots state)
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
    if hasattr(obj, "__dict__"):
        return dict(vars(obj))
    slots: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()) or ():
            if isinstance(name, str) and hasattr(obj, name):
                slots[name] = getattr(obj, name)
    return slots


_DEFAULT_REDUCERS = ("__newobj__", "__newobj_ex__", "_reconstructor")


def reduce_parts(obj: Any) -> tuple[str | None, tuple, Any]:
    """(reducer, args, state) as pickle protocol 2 sees ``obj``.

    ``reducer`` is None for the default ``copyreg.__newobj__``/``_reconstructor`` path, whose
    state is the object's attribute dict; a class with its own ``__reduce__`` (fsspec's
    ``make_instance``, ...) pickles a call instead, and the walk follows its arguments.
    """
    try:
        reduced = obj.__reduce_ex__(2)
    except Exception:
        return None, (), pickled_state(obj)
    if isinstance(reduced, str):
        return reduced, (), None
    func = reduced[0]
    args = tuple(reduced[1]) if len(reduced) > 1 and reduced[1] is not None else ()
    state = reduced[2] if len(reduced) > 2 else None
    if (
        getattr(func, "__module__", None) == copyreg.__name__
        and getattr(func, "__name__", "") in _DEFAULT_REDUCERS
    ):
        return None, (), pickled_state(obj)
    if isinstance(state, tuple) and len(state) == 2:
        merged: dict[str, Any] = {}
        for part in state:
            if isinstance(part, dict):
                merged.update(part)
        state = merged
    return reference_name(func), args, state


def is_optimizer(obj: Any) -> bool:
    return isinstance(obj, torch.optim.Optimizer)


def is_scheduler(obj: Any) -> bool:
    module = type(obj).__module__
    return (
        hasattr(obj, "state_dict")
        and hasattr(obj, "optimizer")
        and (module.startswith("torch.optim.lr_scheduler") or "scheduler" in module)
    )


class Walker:
    """Collects every tensor/ndarray, plain leaf, object type and RNG state of a graph.

    The walk is breadth-first, so the path recorded for an object reached twice (a tensor
    shared by two containers, the optimizer a Trainer references from five places) is the
    shortest one; the others are listed as ``aliases``. Each entry also has a ``route``: the
    steps from the root, each ``[step, name]`` with step ``key`` (dict key, str or int),
    ``index`` (list/tuple), ``attr`` (pickled object state), ``state_dict`` (a key of
    ``module.state_dict()``), ``state_dict()`` (the state_dict of an optimizer or scheduler
    object) or ``bit_generator.state``.

    ``key_categories`` maps a top-level key of the root dict to a category; anything else takes
    its category from the nearest enclosing module (weights), optimizer, scheduler, RNG holder
    or, failing that, ``root_category``.
    """

    def __init__(self, root_category: str, key_categories: dict[str, str] | None = None):
        self.root_category = root_category
        self.key_categories = dict(key_categories or {})
        self.tensors: list[dict[str, Any]] = []
        self._by_key: dict[Any, dict[str, Any]] = {}
        self.leaves: dict[str, Any] = {}
        self.leaf_categories: dict[str, str] = {}  # leaves whose category is not "extra"
        self.objects: list[dict[str, Any]] = []
        self.python_random_states: list[dict[str, Any]] = []
        self.numpy_generators: list[dict[str, Any]] = []
        self.module_state_dicts: list[dict[str, Any]] = []
        self._seen: set[int] = set()
        self._keepalive: list[Any] = []  # state_dict() copies must outlive the walk (ids)
        self._queue: collections.deque = collections.deque()

    # -- helpers
    @staticmethod
    def join(path: str, key: Any) -> str:
        key = str(key)
        return key if not path else path + "." + key

    @staticmethod
    def route_key(key: Any) -> Any:
        return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)

    def push(self, obj: Any, path: str, route: list, category: str, depth: int) -> None:
        self._queue.append((obj, path, route, category, depth))

    def leaf(self, path: str, value: Any, category: str) -> None:
        self.leaves[path] = value
        if category != "extra":
            self.leaf_categories[path] = category

    def add_tensor(self, tensor: Any, path: str, route: list, category: str, **extra: Any) -> None:
        key = storage_key(tensor)
        if key in self._by_key:
            self._by_key[key].setdefault("aliases", []).append(path)
            return
        entry: dict[str, Any] = {
            "path": path,
            "route": route,
            "category": category,
            "kind": "parameter" if isinstance(tensor, torch.nn.Parameter) else "tensor",
            "dtype": str(tensor.dtype),
            "shape": list(tensor.shape),
            "stride": list(tensor.stride()),
            "storage_offset": int(tensor.storage_offset()),
            "numel": int(tensor.numel()),
            "sha256": sha256_hex(tensor_bytes(tensor)),
        }
        entry.update(extra)
        self._by_key[key] = entry
        self.tensors.append(entry)
        self._keepalive.append(tensor)

    def add_ndarray(self, array: Any, path: str, route: list, category: str, depth: int) -> None:
        if array.dtype == object:
            self.objects.append({"path": path, "type": "numpy.ndarray[object]"})
            for index, item in enumerate(array.reshape(-1).tolist()):
                self.push(item, f"{path}[{index}]", [*route, ["index", index]], category, depth)
            return
        key = ("nd", id(array))
        if key in self._by_key:
            self._by_key[key].setdefault("aliases", []).append(path)
            return
        entry = {
            "path": path,
            "route": route,
            "category": category,
            "kind": "ndarray",
            "dtype": str(array.dtype),
            "shape": list(array.shape),
            "numel": int(array.size),
            "sha256": sha256_hex(np.ascontiguousarray(array).tobytes()),
        }
        self._by_key[key] = entry
        self.tensors.append(entry)
        self._keepalive.append(array)

    # -- the walk
    def walk(self, obj: Any) -> None:
        self.push(obj, "", [], self.root_category, 0)
        while self._queue:
            self.visit(*self._queue.popleft())

    def visit(  # noqa: PLR0911, PLR0912, PLR0915 - one branch per kind of node
        self, obj: Any, path: str, route: list, category: str, depth: int
    ) -> None:
        if depth > _MAX_DEPTH:
            self.objects.append({"path": path, "type": "<too deep>"})
            return
        if isinstance(obj, torch.Tensor):
            self.add_tensor(obj, path, route, category)
            return
        if isinstance(obj, np.ndarray):
            self.add_ndarray(obj, path, route, category, depth + 1)
            return
        if isinstance(obj, enum.Enum):
            self.objects.append(
                {
                    "path": path,
                    "type": qualname(obj),
                    "enum_name": obj.name,
                    "enum_value": jsonable(obj.value),
                }
            )
            self.leaf(path, jsonable(obj), category)
            return
        if obj is None or isinstance(obj, (bool, int, float, str)):
            self.leaf(path, obj, category)
            return
        if isinstance(obj, (np.generic, bytes, bytearray)):
            self.leaf(path, jsonable(obj), category)
            return
        if isinstance(obj, (torch.device, torch.dtype)):
            self.leaf(path, {qualname(obj): str(obj)}, category)
            return
        if isinstance(
            obj,
            (
                type,
                types.FunctionType,
                types.BuiltinFunctionType,
                types.MethodType,
                types.ModuleType,
            ),
        ):
            self.objects.append({"path": path, "type": qualname(obj), "ref": reference_name(obj)})
            return
        if is_python_random_state(obj):
            self.python_random_states.append(
                {
                    "path": path,
                    "route": route,
                    "category": category,
                    "version": obj[0],
                    "n": len(obj[1]),
                    "gauss_next": obj[2],
                    "sha256": python_random_digest(obj),
                }
            )
            return
        if identity(obj) in self._seen:
            return
        self._seen.add(identity(obj))
        self._keepalive.append(obj)
        child_depth = depth + 1

        if isinstance(obj, dict):
            if type(obj) is not dict:
                self.objects.append({"path": path, "type": qualname(obj)})
            if not obj:
                self.leaf(path, {}, category)
            for key, value in obj.items():
                child = category
                if depth == 0 and str(key) in self.key_categories:
                    child = self.key_categories[str(key)]
                step = ["key", self.route_key(key)]
                self.push(value, self.join(path, key), [*route, step], child, child_depth)
            return
        if isinstance(obj, (list, tuple)):
            if type(obj) not in (list, tuple):
                self.objects.append({"path": path, "type": qualname(obj)})
            if not obj:
                self.leaf(path, [] if isinstance(obj, list) else {"tuple": []}, category)
            for index, value in enumerate(obj):
                self.push(
                    value, f"{path}[{index}]", [*route, ["index", index]], category, child_depth
                )
            return
        if isinstance(obj, (set, frozenset)):
            self.leaf(path, {qualname(obj): sorted(repr(v) for v in obj)}, category)
            return
        if isinstance(obj, collections.deque):
            self.objects.append({"path": path, "type": qualname(obj), "maxlen": obj.maxlen})
            for index, value in enumerate(obj):
                self.push(
                    value, f"{path}[{index}]", [*route, ["index", index]], category, child_depth
                )
            return
        if isinstance(obj, torch.nn.Module):
            self.visit_module(obj, path, route, child_depth)
            return
        if is_optimizer(obj) or is_scheduler(obj):
            kind = "optimizer" if is_optimizer(obj) else "scheduler"
            self.objects.append({"path": path, "type": qualname(obj)})
            state = obj.state_dict()
            self._keepalive.append(state)
            self.push(state, path, [*route, ["state_dict()", None]], kind, child_depth)
            return
        if isinstance(obj, functools.partial):
            self.objects.append(
                {
                    "path": path,
                    "type": "functools.partial",
                    "func": reference_name(obj.func),
                    "args": jsonable(obj.args),
                    "keywords": jsonable(obj.keywords),
                }
            )
            return
        if self.visit_special(obj, path, route, category, child_depth):
            return
        reducer, args, state = reduce_parts(obj)
        entry = {"path": path, "type": qualname(obj)}
        if isinstance(obj, weakref.ProxyTypes):
            entry["weakref_proxy"] = True
        if reducer is not None:
            entry["reduce"] = reducer
        self.objects.append(entry)
        for index, value in enumerate(args):
            self.push(
                value,
                self.join(path, f"<reduce_args>[{index}]"),
                [*route, ["reduce_args", index]],
                category,
                child_depth,
            )
        if isinstance(state, dict):
            for key, value in state.items():
                self.push(
                    value, self.join(path, key), [*route, ["attr", key]], category, child_depth
                )
        elif state is not None:
            self.push(
                state, self.join(path, "<state>"), [*route, ["state", None]], category, child_depth
            )

    def visit_module(self, module: Any, path: str, route: list, depth: int) -> None:
        self.objects.append({"path": path, "type": qualname(module)})
        state_dict = module.state_dict()
        self._keepalive.append(state_dict)
        table = state_dict_table(state_dict, "state_dict()")
        table["path"] = path
        self.module_state_dicts.append(table)
        for key, tensor in state_dict.items():
            if isinstance(tensor, torch.Tensor):
                self.add_tensor(
                    tensor, self.join(path, key), [*route, ["state_dict", key]], "weights"
                )
        for name, sub in module.named_modules():
            self._seen.add(identity(sub))
            sub_path = self.join(path, name) if name else path
            sub_route = list(route)
            for part in name.split(".") if name else ():
                sub_route += [["attr", "_modules"], ["key", part]]
            non_persistent = getattr(sub, "_non_persistent_buffers_set", set())
            for buffer_name, buffer in sub._buffers.items():
                if buffer is not None and buffer_name in non_persistent:
                    self.add_tensor(
                        buffer,
                        self.join(sub_path, buffer_name),
                        [*sub_route, ["attr", "_buffers"], ["key", buffer_name]],
                        "extra",
                        non_persistent=True,
                    )
            for key, value in pickled_state(sub).items():
                if key in _MODULE_INTERNALS:
                    continue
                self.push(
                    value, self.join(sub_path, key), [*sub_route, ["attr", key]], "extra", depth
                )

    def visit_special(self, obj: Any, path: str, route: list, category: str, depth: int) -> bool:
        """numpy generators and OmegaConf containers: recorded whole, not attribute by attribute."""
        module = type(obj).__module__
        if isinstance(obj, (np.random.Generator, np.random.RandomState)):
            if isinstance(obj, np.random.Generator):
                state = obj.bit_generator.state
            else:
                state = obj.get_state(legacy=False)
            self.numpy_generators.append(
                {
                    "path": path,
                    "route": route,
                    "category": "rng",
                    "type": qualname(obj),
                    "bit_generator": state.get("bit_generator"),
                    "state": jsonable(state),
                }
            )
            # MT19937 keeps its key as an ndarray: part of the pickled graph.
            self._keepalive.append(state)
            self.push(
                state,
                self.join(path, "<bit_generator.state>"),
                [*route, ["bit_generator.state", None]],
                "rng",
                depth,
            )
            return True
        if module.startswith("omegaconf"):
            from omegaconf import OmegaConf

            try:
                content = jsonable(OmegaConf.to_container(obj, resolve=False))
            except Exception as exc:
                content = {"error": f"{type(exc).__name__}: {exc}"}
            entry = {"path": path, "type": qualname(obj), "omegaconf": content}
            with contextlib.suppress(Exception):
                entry["object_type"] = reference_name(OmegaConf.get_type(obj))
            self.objects.append(entry)
            self.leaf(path, {"omegaconf": content}, category)
            return True
        return False

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {c: 0 for c in CATEGORIES}
        for entry in self.tensors:
            counts[entry["category"]] = counts.get(entry["category"], 0) + 1
        return {
            "n_tensors": len(self.tensors),
            "categories": counts,
            "tensors": self.tensors,
            "module_state_dicts": self.module_state_dicts,
            "python_random_states": self.python_random_states,
            "numpy_generators": self.numpy_generators,
            "objects": self.objects,
            "leaves": self.leaves,
            "leaf_categories": self.leaf_categories,
        }


def walk_object(obj: Any, root_category: str, key_categories: dict[str, str] | None) -> dict:
    walker = Walker(root_category, key_categories)
    walker.walk(obj)
    return {"top_level_type": qualname(obj), **walker.summary()}


# --------------------------------------------------------------------------------------------
# truth documents


def library_versions(dists: tuple[str, ...]) -> dict[str, Any]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - 3.8 has it
        metadata = None  # type: ignore[assignment]
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    for dist in dists:
        try:
            found[dist] = metadata.version(dist) if metadata else None
        except Exception:
            found[dist] = None
    return found


def json_dump(doc: Any, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")


def torch_load_unsafe(path: Path) -> Any:
    """Our own benign files only, in the venv that wrote them."""
    import inspect

    kwargs: dict[str, Any] = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = False
    return torch.load(str(path), **kwargs)


def pickle_info(path: Path) -> dict[str, Any]:
    container = container_of(path)
    info: dict[str, Any] = {"container": container}
    data = main_pickle(path)
    info["pickle_protocol"] = data[1] if data[:1] == b"\x80" else 0
    info["pickle_globals"] = pickle_globals(data)
    if container == "zip":
        with zipfile.ZipFile(str(path)) as zf:
            info["zip_members"] = sorted(zf.namelist())
    return info


class Corpus:
    """Output directory + index + per-file truth writer for one environment."""

    def __init__(self, env: str, out: Path, dists: tuple[str, ...]):
        self.env = env
        self.out = out
        self.versions = library_versions(dists)
        self.files: dict[str, dict[str, Any]] = {}
        out.mkdir(parents=True, exist_ok=True)

    def truth_path(self, rel: str) -> Path:
        return self.out / (rel.rstrip("/") + ".truth.json")

    def file_doc(
        self,
        path: Path,
        obj: Any,
        *,
        what: str,
        writer: str,
        root_category: str,
        key_categories: dict[str, str] | None = None,
        weights: tuple[str, Callable[[Any], Any]] | None = None,
        counters: dict[str, Any] | None = None,
        loader: str = "torch",
    ) -> dict[str, Any]:
        """Truth for one pickle-bearing file (``loader='torch'``) or safetensors file."""
        doc: dict[str, Any] = {
            "what": what,
            "writer": writer,
            "loader": loader,
            "bytes": path.stat().st_size,
            "counters": counters or {},
            "walk": {"root_category": root_category, "key_categories": key_categories or {}},
        }
        if loader == "torch":
            doc.update(pickle_info(path))
        else:
            doc["container"] = loader
        doc.update(walk_object(obj, root_category, key_categories))
        if weights is not None:
            of, getter = weights
            doc["weights_state_dict"] = state_dict_table(getter(obj), of)
        return doc

    def add_file(self, rel: str, doc: dict[str, Any], kind: str) -> None:
        full = {
            "file": rel,
            "env": self.env,
            "kind": kind,
            "versions": self.versions,
            "digest_rule": DIGEST_RULE,
            "tensor_sha256_rule": TENSOR_SHA_RULE,
            "python_random_rule": PY_RANDOM_RULE,
            **doc,
        }
        truth = self.truth_path(rel)
        json_dump(full, truth)
        self.files[rel] = {"role": "checkpoint", "kind": kind}
        self.files[str(truth.relative_to(self.out))] = {
            "role": "truth_json",
            "kind": kind,
            "describes": rel,
        }
        log(f"  {rel:<44} {doc.get('bytes', '')!s:>8} B  {doc.get('n_tensors', '')} tensors")

    def add_bundle(
        self,
        rel: str,
        inner: dict[str, dict[str, Any]],
        kind: str,
        what: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One truth for a folder (``checkpoint-N/``) or archive (SB3 ``.zip``)."""
        root = self.out / rel
        members: list[str] = []
        if root.is_dir():
            members = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        full = {
            "file": rel,
            "env": self.env,
            "kind": kind,
            "what": what,
            "versions": self.versions,
            "digest_rule": DIGEST_RULE,
            "tensor_sha256_rule": TENSOR_SHA_RULE,
            "python_random_rule": PY_RANDOM_RULE,
            **({"members": members} if members else {}),
            **(extra or {}),
            "files": inner,
        }
        truth = self.truth_path(rel)
        json_dump(full, truth)
        if root.is_dir():
            for member in members:
                self.files[f"{rel.rstrip('/')}/{member}"] = {
                    "role": "checkpoint_member",
                    "kind": kind,
                    "bundle": rel,
                }
        else:
            self.files[rel] = {"role": "checkpoint", "kind": kind}
        self.files[str(truth.relative_to(self.out))] = {
            "role": "truth_json",
            "kind": kind,
            "describes": rel,
        }
        log(f"  {rel:<44} bundle of {len(inner)} files")

    def finish(self) -> None:
        index = {
            "env": self.env,
            "generator": "fixtures_src/make_realworld_corpus.py",
            "worker": "fixtures_src/realworld_worker.py",
            "versions": self.versions,
            "python_executable": sys.executable,
            "python_build": platform.python_build(),
            "work_dir": str(WORK_ROOT / self.env),
            "files": dict(sorted(self.files.items())),
        }
        json_dump(index, self.out / "index.json")
        log(f"generated {len(self.files)} files in {self.out}")


# --------------------------------------------------------------------------------------------
# shared pieces


def install_project_package() -> Path:
    """Copy ``rwproj`` to a temp dir and make it importable in THIS process only."""
    root = Path(tempfile.mkdtemp(prefix="rwproj-"))
    shutil.copytree(str(TEMPLATE_DIR / PROJECT_PACKAGE), str(root / PROJECT_PACKAGE))
    sys.path.insert(0, str(root))
    return root


def fresh_workdir(env: str) -> Path:
    work = WORK_ROOT / env
    if work.exists():
        shutil.rmtree(str(work))
    work.mkdir(parents=True)
    os.chdir(str(work))
    return work


def seed_everything(seed: int = SEED) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def rng_snapshot() -> dict[str, Any]:
    """The RNG part of a hand-written training checkpoint."""
    cuda_states: Any = []
    try:
        cuda_states = torch.cuda.get_rng_state_all()  # [] without a GPU
    except Exception as exc:
        cuda_states = []
        log(f"  torch.cuda.get_rng_state_all() failed: {exc}")
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": cuda_states,
    }


def optimizer_flat(opt_state: Any) -> Any:
    flat = collections.OrderedDict()
    for index, per_param in opt_state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                flat[f"state.{index}.{name}"] = value
    return flat


def copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(str(dst))
    shutil.copytree(str(src), str(dst))


# --------------------------------------------------------------------------------------------
# A / D: Lightning

HYDRA_CONFIG_YAML = """\
defaults:
  - _self_
data:
  num_features: 4
  num_classes: 3
  root: ${hydra:runtime.cwd}/data
  batch_size: 8
model:
  hidden: 8
  out_dim: ${data.num_classes}
  name: tiny-${model.hidden}
trainer:
  max_epochs: 2
  tags:
    - fixture
    - ${model.name}
"""


def compose_hydra_config() -> Any:
    """A Hydra-composed DictConfig (with its ``hydra`` node and interpolations), set as the
    HydraConfig singleton the way ``@hydra.main`` does."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    conf_dir = Path.cwd() / "conf"
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "config.yaml").write_text(HYDRA_CONFIG_YAML)
    from omegaconf import open_dict, read_write

    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3", job_name="fixture"):
        cfg = compose(config_name="config", overrides=["model.hidden=8"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    # As hydra.main does before calling the task function: the job's cfg has no `hydra` node,
    # which stays reachable through HydraConfig.get() (and the ${hydra:...} resolver).
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg


def lightning_fit(max_epochs: int = 2) -> dict[str, Any]:
    """Trainer.fit of rwproj.lit.TinyClassifier; returns the module, trainer and ckpt path."""
    import pytorch_lightning as pl
    from omegaconf import OmegaConf
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger
    from rwproj.enums import Mode, Stage
    from rwproj.lit import OptimConf, TinyClassifier

    pl.seed_everything(SEED, workers=True)
    torch.set_num_threads(1)
    cfg = compose_hydra_config()
    optim = OmegaConf.structured(OptimConf(lr=0.01))
    model = TinyClassifier(cfg, optim, mode=Mode.SLOW, stage=Stage.MAIN, hidden=8)
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(32, 4, generator=gen)
    y = torch.randint(0, 3, (32,), generator=gen)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=False
    )
    checkpoint_cb = ModelCheckpoint(
        dirpath="checkpoints",
        filename="{epoch}-{step}",
        monitor="train_loss_epoch",
        save_top_k=1,
        mode="min",
    )
    early_stop = EarlyStopping(monitor="train_loss_epoch", patience=5, mode="min")
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger("logs", name="tiny"),
        callbacks=[checkpoint_cb, early_stop],
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        log_every_n_steps=1,
        default_root_dir=".",
    )
    trainer.fit(model, train_dataloaders=loader)
    return {
        "model": model,
        "trainer": trainer,
        "ckpt": Path(checkpoint_cb.best_model_path),
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
    }


LIGHTNING_CKPT_CATEGORIES = {
    "state_dict": "weights",
    "optimizer_states": "optimizer",
    "lr_schedulers": "scheduler",
    "callbacks": "extra",
    "loops": "extra",
    "hyper_parameters": "extra",
}


def add_lightning_ckpt(corpus: Corpus, fit: dict[str, Any], note: str) -> None:
    ckpt = fit["ckpt"]
    dest = corpus.out / ckpt.name
    shutil.copyfile(str(ckpt), str(dest))
    obj = torch_load_unsafe(dest)  # the dict Lightning built is not kept: read our own file
    counters = {"epoch": obj.get("epoch"), "global_step": obj.get("global_step")}
    doc = corpus.file_doc(
        dest,
        obj,
        what="the .ckpt ModelCheckpoint wrote during Trainer.fit (2 epochs, Adam + StepLR, "
        "hparams with a Hydra DictConfig, a structured OmegaConf config and enums)" + note,
        writer="pytorch_lightning ModelCheckpoint (trainer.save_checkpoint)",
        root_category="extra",
        key_categories=LIGHTNING_CKPT_CATEGORIES,
        weights=("obj['state_dict']", lambda o: o["state_dict"]),
        counters=counters,
    )
    doc["truth_source"] = (
        "Lightning builds the checkpoint dict inside trainer.save_checkpoint and drops it, so "
        "this truth walks the dict read back from the file in the writing process"
    )
    doc["top_level_keys"] = list(obj)
    corpus.add_file(dest.name, doc, "lightning_ckpt")


def save_lightning_module(corpus: Corpus, fit: dict[str, Any], name: str) -> None:
    """torch.save(module) after fit, trainer attached if pickle allows it."""
    model = fit["model"]
    dest = corpus.out / name
    variant = "trainer attached"
    try:
        torch.save(model, str(dest))
    except Exception as exc:
        log(f"  torch.save(module) with the trainer attached failed: {type(exc).__name__}: {exc}")
        variant = f"trainer detached (with it attached: {type(exc).__name__}: {exc})"
        trainer = model._trainer
        model._trainer = None
        try:
            torch.save(model, str(dest))
        finally:
            model._trainer = trainer
    live = walk_object(model, "weights", {})
    reloaded = torch_load_unsafe(dest)
    proxied = isinstance(model.__dict__.get("_trainer"), weakref.ProxyTypes)
    if variant == "trainer attached" and reloaded.__dict__.get("_trainer") is None:
        variant = (
            "trainer attached at save time, but LightningModule.__getstate__ writes _trainer=None"
        )
    doc = corpus.file_doc(
        dest,
        reloaded,
        what=f"the whole LightningModule pickled with torch.save(module) after fit ({variant})",
        writer="torch.save(model)",
        root_category="weights",
        weights=("module.state_dict()", lambda m: m.state_dict()),
        counters={"epoch": fit["epoch"], "global_step": fit["global_step"]},
    )
    doc["pickle_variant"] = variant
    same = {
        key: canonical(live[key]) == canonical(doc[key])
        for key in ("tensors", "module_state_dicts", "objects", "leaves")
    }
    why = (
        "module._trainer (and the profiler's _lightning_module) are weakref.proxy objects, "
        "which pickle writes as a second copy of their referent whose BUILD state is the "
        "referent's (memoized, still incomplete) __dict__, so the unpickled graph is not the "
        "live one"
        if proxied
        else "LightningModule.__getstate__ replaces the trainer"
    )
    doc["truth_source"] = (
        f"read back from the file in the writing process: {why}. Live walk vs file: "
        + ", ".join(f"{k} {'identical' if v else 'differ'}" for k, v in same.items())
    )
    corpus.add_file(name, doc, "lightning_module_pickle")


# --------------------------------------------------------------------------------------------
# environment A: pytorch_lightning 1.9.5 on torch 1.13.1


def generate_lightning(corpus: Corpus) -> None:
    fresh_workdir(corpus.env)
    fit = lightning_fit()
    add_lightning_ckpt(corpus, fit, "")
    save_lightning_module(corpus, fit, "lightning_module_whole.pt")

    # A plain module with an fsspec filesystem attribute.
    from rwproj.lit import RemoteLogged

    torch.manual_seed(SEED)
    remote = RemoteLogged("file:///tmp/checkpoint-compat-realworld/remote")
    dest = corpus.out / "module_with_fsspec.pt"
    torch.save(remote, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            remote,
            what="an nn.Module holding fsspec.filesystem('file') (pickled through "
            "fsspec.spec.make_instance)",
            writer="torch.save(module)",
            root_category="weights",
            weights=("module.state_dict()", lambda m: m.state_dict()),
        ),
        "module_with_fsspec",
    )

    # A hand-written training dict: model/optimizer/scheduler + every RNG + the Hydra config.
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    model = fit["model"]
    trainer = fit["trainer"]
    optimizer = trainer.optimizers[0]
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    seed_everything(SEED + 1)
    training = {
        "epoch": fit["epoch"],
        "global_step": fit["global_step"],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_snapshot(),
        "config": model.hparams.cfg,
        "hydra": HydraConfig.get(),
        "config_yaml": OmegaConf.to_yaml(model.hparams.cfg),
    }
    dest = corpus.out / "training_state_rng.pt"
    torch.save(training, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            training,
            what="a hand-written training dict: model/optimizer/scheduler state_dicts, "
            "torch/numpy/python/cuda RNG states, the Hydra-composed job DictConfig (with "
            "interpolations) and HydraConfig.get() (the `hydra` node)",
            writer="torch.save(dict)",
            root_category="extra",
            key_categories={
                "model": "weights",
                "optimizer": "optimizer",
                "scheduler": "scheduler",
                "rng": "rng",
            },
            weights=("obj['model']", lambda o: o["model"]),
            counters={"epoch": fit["epoch"], "global_step": fit["global_step"]},
        ),
        "training_dict_rng",
    )


# --------------------------------------------------------------------------------------------
# B / D: transformers Trainer


def hf_trainer_run(output_dir: str, save_safetensors: bool, max_steps: int = 3) -> Path:
    """A transformers Trainer run on a tiny GPT-2 (tied embeddings); returns checkpoint-N/."""
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed

    set_seed(SEED)
    torch.set_num_threads(1)
    config = GPT2Config(
        vocab_size=64,
        n_positions=32,
        n_embd=16,
        n_layer=2,
        n_head=2,
        n_inner=32,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, 64, (8, 16), generator=gen)
    dataset = [{"input_ids": row, "labels": row.clone()} for row in ids]
    args = TrainingArguments(
        output_dir=output_dir,
        logging_dir=output_dir + "/runs",
        max_steps=max_steps,
        save_steps=max_steps,
        save_strategy="steps",
        logging_steps=1,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        warmup_steps=1,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        seed=SEED,
        data_seed=SEED,
        report_to=[],
        use_cpu=True,
        save_safetensors=save_safetensors,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset)
    trainer.train()
    return Path(output_dir) / f"checkpoint-{max_steps}"


def hf_member_doc(corpus: Corpus, path: Path, rel: str) -> dict[str, Any] | None:
    """Truth for one file of a transformers checkpoint folder."""
    name = path.name
    if name.endswith(".json"):
        data = json.loads(path.read_text())
        doc: dict[str, Any] = {
            "container": "json",
            "bytes": path.stat().st_size,
            "sha256": sha256_hex(path.read_bytes()),
        }
        if name == "trainer_state.json":
            doc["counters"] = {"epoch": data.get("epoch"), "global_step": data.get("global_step")}
        return doc
    if name.endswith(".safetensors"):
        from safetensors import safe_open
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
        doc = corpus.file_doc(
            path,
            tensors,
            what="model weights (safetensors; tied lm_head.weight omitted)",
            writer="transformers Trainer._save (safetensors.torch.save_file)",
            root_category="weights",
            loader="safetensors",
            weights=(
                "the tensors in the order safetensors.torch.load_file returns them (by name)",
                lambda o: o,
            ),
        )
        doc["safetensors_metadata"] = metadata
        return doc
    obj = torch_load_unsafe(path)
    spec = {
        "pytorch_model.bin": ("weights", "model.state_dict() (tied weights share storage)"),
        "optimizer.pt": ("optimizer", "AdamW.state_dict()"),
        "scheduler.pt": ("scheduler", "LambdaLR.state_dict() (linear warmup/decay)"),
        "rng_state.pth": ("rng", "{'python', 'numpy', 'cpu'} RNG states"),
        "training_args.bin": ("extra", "the TrainingArguments object"),
    }
    if name not in spec:
        return None
    category, what = spec[name]
    weights = None
    if name == "pytorch_model.bin":
        weights = ("obj (the state_dict)", lambda o: o)
    elif name == "optimizer.pt":
        weights = None
    doc = corpus.file_doc(
        path,
        obj,
        what=what,
        writer="transformers Trainer._save_checkpoint",
        root_category=category,
        weights=weights,
    )
    if name == "optimizer.pt":
        doc["optimizer_flat_state"] = state_dict_table(
            optimizer_flat(obj), "obj['state'] flattened as state.<param index>.<name>"
        )
    doc["truth_source"] = "read back from the file in the writing process (Trainer drops it)"
    return doc


def add_hf_checkpoint(corpus: Corpus, ckpt: Path, rel_dir: str, label: str) -> None:
    dest = corpus.out / rel_dir / ckpt.name
    copy_tree(ckpt, dest)
    inner: dict[str, dict[str, Any]] = {}
    for path in sorted(dest.iterdir()):
        doc = hf_member_doc(corpus, path, path.name)
        if doc is not None:
            inner[path.name] = doc
    state = json.loads((dest / "trainer_state.json").read_text())
    corpus.add_bundle(
        f"{rel_dir}/{ckpt.name}",
        inner,
        "hf_trainer_checkpoint",
        f"transformers Trainer checkpoint folder ({label}) of a tiny GPT2LMHeadModel after "
        f"{state.get('global_step')} steps",
        extra={"counters": {"epoch": state.get("epoch"), "global_step": state.get("global_step")}},
    )


# --------------------------------------------------------------------------------------------
# environment B: transformers + torchvision + timm on torch 2.0.1


def tiny_torchvision_vit() -> Any:
    from torchvision.models import VisionTransformer

    return VisionTransformer(
        image_size=16,
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=3,
    )


def tiny_timm_vit() -> Any:
    import timm

    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=16,
        patch_size=8,
        embed_dim=16,
        depth=1,
        num_heads=2,
        num_classes=3,
    )


def train_steps(model: Any, optimizer: Any, steps: int, scheduler: Any = None) -> None:
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(steps):
        images = torch.randn(4, 3, 16, 16, generator=gen)
        target = torch.randint(0, 3, (4,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    model.eval()


def generate_hf_vision(corpus: Corpus) -> None:
    work = fresh_workdir(corpus.env)
    # transformers Trainer, twice.
    ckpt = hf_trainer_run("out_bin", save_safetensors=False)
    add_hf_checkpoint(corpus, work / ckpt, "trainer_pickle", "save_safetensors=False")
    ckpt = hf_trainer_run("out_safetensors", save_safetensors=True)
    add_hf_checkpoint(corpus, work / ckpt, "trainer_safetensors", "save_safetensors=True")

    # A whole torchvision ViT (norm_layer = functools.partial(nn.LayerNorm, eps=1e-6)).
    seed_everything()
    vit = tiny_torchvision_vit().eval()
    dest = corpus.out / "torchvision_vit_whole.pt"
    torch.save(vit, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            vit,
            what="a whole torchvision.models.VisionTransformer (tiny dims)",
            writer="torch.save(model)",
            root_category="weights",
            weights=("module.state_dict()", lambda m: m.state_dict()),
        ),
        "torchvision_model_pickle",
    )

    # pytorch/examples imagenet/main.py save_checkpoint(): checkpoint.pth.tar.
    seed_everything()
    model = tiny_torchvision_vit()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    train_steps(model, optimizer, 3, scheduler)
    best_acc1 = torch.tensor(41.25)  # accuracy() returns tensors; max() keeps one
    state = {
        "epoch": 1,
        "arch": "vit_tiny (torchvision VisionTransformer)",
        "state_dict": model.state_dict(),
        "best_acc1": best_acc1,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    }
    dest = corpus.out / "imagenet_example" / "checkpoint.pth.tar"
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(dest))
    corpus.add_file(
        "imagenet_example/checkpoint.pth.tar",
        corpus.file_doc(
            dest,
            state,
            what="pytorch/examples imagenet save_checkpoint(): epoch, arch, state_dict, best_acc1 "
            "(a 0-d tensor), SGD optimizer and StepLR scheduler state_dicts after 3 steps",
            writer="torch.save(state, 'checkpoint.pth.tar')",
            root_category="extra",
            key_categories={
                "state_dict": "weights",
                "optimizer": "optimizer",
                "scheduler": "scheduler",
            },
            weights=("obj['state_dict']", lambda o: o["state_dict"]),
            counters={"epoch": 1, "global_step": 3},
        ),
        "imagenet_example_checkpoint",
    )

    # The same optimizer and scheduler state_dicts alone.
    for name, obj, category in (
        ("sgd_optimizer_state_dict.pt", optimizer.state_dict(), "optimizer"),
        ("steplr_scheduler_state_dict.pt", scheduler.state_dict(), "scheduler"),
    ):
        dest = corpus.out / name
        torch.save(obj, str(dest))
        corpus.add_file(
            name,
            corpus.file_doc(
                dest,
                obj,
                what=f"{type(optimizer if category == 'optimizer' else scheduler).__name__}"
                ".state_dict() alone",
                writer="torch.save(x.state_dict())",
                root_category=category,
            ),
            f"{category}_state_dict",
        )

    # timm: a whole model, and a CheckpointSaver checkpoint.
    import timm
    import timm.optim
    import timm.utils
    from timm.utils import CheckpointSaver

    seed_everything()
    timm_model = tiny_timm_vit().eval()
    dest = corpus.out / "timm_vit_whole.pt"
    torch.save(timm_model, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            timm_model,
            what="a whole timm VisionTransformer from timm.create_model('vit_tiny_patch16_224', "
            "tiny overrides), holding timm.layers.Format and pretrained_cfg",
            writer="torch.save(model)",
            root_category="weights",
            weights=("module.state_dict()", lambda m: m.state_dict()),
        ),
        "timm_model_pickle",
    )

    seed_everything()
    timm_model = tiny_timm_vit()
    optimizer = timm.optim.create_optimizer_v2(timm_model, opt="adamw", lr=1e-3, weight_decay=0.05)
    train_steps(timm_model, optimizer, 2)
    args = timm_train_args()
    saver_dir = Path("timm_output")
    saver_dir.mkdir()
    saver = CheckpointSaver(
        timm_model,
        optimizer,
        args=args,
        amp_scaler=timm.utils.NativeScaler(),
        checkpoint_dir=str(saver_dir),
        recovery_dir=str(saver_dir),
        decreasing=False,
        max_history=1,
    )
    saver.save_checkpoint(epoch=0, metric=12.5)
    written = saver_dir / "checkpoint-0.pth.tar"
    dest = corpus.out / "timm_checkpoint-0.pth.tar"
    shutil.copyfile(str(written), str(dest))
    obj = torch_load_unsafe(dest)
    doc = corpus.file_doc(
        dest,
        obj,
        what="timm.utils.CheckpointSaver.save_checkpoint(epoch=0, metric=12.5): epoch, arch, "
        "state_dict, optimizer (AdamW, 2 param groups), version, args (argparse.Namespace), "
        "amp_scaler (a disabled GradScaler on the CPU: {}), metric",
        writer="timm.utils.CheckpointSaver",
        root_category="extra",
        key_categories={"state_dict": "weights", "optimizer": "optimizer", "amp_scaler": "scaler"},
        weights=("obj['state_dict']", lambda o: o["state_dict"]),
        counters={"epoch": 0, "global_step": 2},
    )
    doc["truth_source"] = "CheckpointSaver builds the dict internally: read back from the file"
    corpus.add_file(dest.name, doc, "timm_checkpoint_saver")


def timm_train_args() -> argparse.Namespace:
    """What timm's train.py passes as ``args`` (a few of its options)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vit_tiny_patch16_224")
    parser.add_argument("--num-classes", type=int, default=3)
    parser.add_argument("--img-size", type=int, default=16)
    parser.add_argument("--opt", default="adamw")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sched", default="cosine")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--mean", type=float, nargs=3, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    return parser.parse_args(["--amp"])


# --------------------------------------------------------------------------------------------
# environment C: stable-baselines3


def sb3_data_doc(data_json: bytes) -> dict[str, Any]:
    """The ``data`` member: JSON whose ':serialized:' values are base64 cloudpickle blobs."""
    from stable_baselines3.common.save_util import json_to_data

    raw = json.loads(data_json.decode("utf-8"))
    serialized: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and ":serialized:" in value:
            blob = base64.b64decode(value[":serialized:"].encode())
            serialized[key] = {
                "type": value.get(":type:"),
                "bytes": len(blob),
                "pickle_protocol": blob[1] if blob[:1] == b"\x80" else 0,
                "pickle_globals": pickle_globals(blob),
            }
    data = json_to_data(data_json.decode("utf-8"))
    return {
        "container": "json",
        "bytes": len(data_json),
        "sha256": sha256_hex(data_json),
        "keys": list(raw),
        "serialized": serialized,
        "walk": {"root_category": "extra", "key_categories": {}},
        **walk_object(data, "extra", {}),
    }


def sb3_zip_docs(corpus: Corpus, archive: Path) -> dict[str, dict[str, Any]]:
    inner: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(str(archive)) as zf:
        for name in zf.namelist():
            blob = zf.read(name)
            if name == "data":
                inner[name] = sb3_data_doc(blob)
            elif name.endswith(".pth"):
                tmp = Path(tempfile.mkdtemp()) / name
                tmp.write_bytes(blob)
                obj = torch_load_unsafe(tmp)
                # policy.pth, and pytorch_variables.pth (SAC's learned log_ent_coef): weights
                category = "optimizer" if name.endswith("optimizer.pth") else "weights"
                doc = corpus.file_doc(
                    tmp,
                    obj,
                    what=f"SB3 {name}",
                    writer="stable_baselines3 save_to_zip_file (th.save into the zip member)",
                    root_category=category,
                    weights=("obj (policy.state_dict())", lambda o: o)
                    if name == "policy.pth"
                    else None,
                )
                doc["sha256"] = sha256_hex(blob)
                inner[name] = doc
                shutil.rmtree(str(tmp.parent))
            else:
                inner[name] = {
                    "container": "text",
                    "bytes": len(blob),
                    "sha256": sha256_hex(blob),
                    "text": blob.decode("utf-8", "replace"),
                }
    return inner


def generate_sb3(corpus: Corpus) -> None:
    import gymnasium as gym
    from stable_baselines3 import PPO, SAC

    work = fresh_workdir(corpus.env)
    os.environ["SB3_LOGDIR"] = str(work / "sb3_logs")  # not a fresh /tmp/SB3-<date> per model
    seed_everything()
    env = gym.make("CartPole-v1")
    env.reset(seed=SEED)
    env.observation_space.seed(SEED)
    model = PPO(
        "MlpPolicy",
        env,
        seed=SEED,
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        policy_kwargs={"net_arch": [8, 8]},
        device="cpu",
        verbose=0,
    )
    model.observation_space.seed(SEED)
    model.learn(total_timesteps=128)
    model.save("ppo_cartpole")
    dest = corpus.out / "ppo_cartpole.zip"
    shutil.copyfile("ppo_cartpole.zip", str(dest))
    corpus.add_bundle(
        dest.name,
        sb3_zip_docs(corpus, dest),
        "sb3_zip",
        "stable-baselines3 PPO('MlpPolicy', CartPole-v1, seed=0).learn(128); model.save()",
        extra={
            "counters": {
                "num_timesteps": model.num_timesteps,
                "n_updates": getattr(model, "_n_updates", None),
            }
        },
    )

    policy_path = corpus.out / "ppo_policy_whole.pt"
    torch.save(model.policy, str(policy_path))
    corpus.add_file(
        policy_path.name,
        corpus.file_doc(
            policy_path,
            model.policy,
            what="torch.save(model.policy): the ActorCriticPolicy with its Adam optimizer and "
            "gymnasium spaces whose np_random generators are seeded",
            writer="torch.save(model.policy)",
            root_category="weights",
            weights=("policy.state_dict()", lambda m: m.state_dict()),
            counters={"num_timesteps": model.num_timesteps},
        ),
        "sb3_policy_pickle",
    )

    # SAC: pytorch_variables.pth holds a tensor (log_ent_coef); its optimizers are separate.
    seed_everything()
    env = gym.make("Pendulum-v1")
    env.reset(seed=SEED)
    sac = SAC(
        "MlpPolicy",
        env,
        seed=SEED,
        learning_starts=16,
        batch_size=16,
        buffer_size=256,
        policy_kwargs={"net_arch": [8, 8]},
        device="cpu",
        verbose=0,
        train_freq=8,
        gradient_steps=1,
    )
    sac.learn(total_timesteps=48)
    sac.save("sac_pendulum")
    dest = corpus.out / "sac_pendulum.zip"
    shutil.copyfile("sac_pendulum.zip", str(dest))
    corpus.add_bundle(
        dest.name,
        sb3_zip_docs(corpus, dest),
        "sb3_zip",
        "stable-baselines3 SAC('MlpPolicy', Pendulum-v1, seed=0).learn(48); model.save() "
        "(pytorch_variables.pth holds log_ent_coef; actor/critic/ent_coef optimizers)",
        extra={
            "counters": {
                "num_timesteps": sac.num_timesteps,
                "n_updates": getattr(sac, "_n_updates", None),
            }
        },
    )


# --------------------------------------------------------------------------------------------
# environment D: Debian's CPython 3.11.2 (Enum members pickled by name)


def generate_py311_enum(corpus: Corpus) -> None:
    work = fresh_workdir(corpus.env)
    fit = lightning_fit()
    add_lightning_ckpt(
        corpus, fit, " - on CPython 3.11.2, whose Enum.__reduce_ex__ returns (getattr, (cls, name))"
    )
    save_lightning_module(corpus, fit, "lightning_module_whole.pt")

    ckpt = hf_trainer_run("out", save_safetensors=True, max_steps=2)
    src = work / ckpt / "training_args.bin"
    dest = corpus.out / "training_args.bin"
    shutil.copyfile(str(src), str(dest))
    obj = torch_load_unsafe(dest)
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            obj,
            what="transformers TrainingArguments (IntervalStrategy, SchedulerType, "
            "OptimizerNames, HubStrategy enums) from a Trainer checkpoint",
            writer="transformers Trainer._save_checkpoint: torch.save(self.args, ...)",
            root_category="extra",
        ),
        "hf_training_args",
    )

    seed_everything()
    timm_model = tiny_timm_vit().eval()
    dest = corpus.out / "timm_vit_whole.pt"
    torch.save(timm_model, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            timm_model,
            what="a whole timm VisionTransformer (patch_embed.output_fmt is the "
            "timm.layers.Format enum)",
            writer="torch.save(model)",
            root_category="weights",
            weights=("module.state_dict()", lambda m: m.state_dict()),
        ),
        "timm_model_pickle",
    )

    import re

    from rwproj.enums import Mode, Stage
    from timm.layers import Format
    from transformers.trainer_utils import IntervalStrategy

    seed_everything()
    head = torch.nn.Linear(4, 2)
    enum_dict = {
        "state_dict": head.state_dict(),
        "arch": "linear_head",
        "output_fmt": Format.NHWC,
        "mode": Mode.FAST,
        "stage": Stage.WARMUP,
        "save_strategy": IntervalStrategy.STEPS,
        "regex_flags": re.IGNORECASE | re.MULTILINE,
        "version": 2,
    }
    dest = corpus.out / "enum_dict.pt"
    torch.save(enum_dict, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            enum_dict,
            what="a timm-style checkpoint dict holding timm's Format, user Enum and "
            "IntEnum members, a transformers IntervalStrategy and an re.RegexFlag combination",
            writer="torch.save(dict)",
            root_category="extra",
            key_categories={"state_dict": "weights"},
            weights=("obj['state_dict']", lambda o: o["state_dict"]),
        ),
        "enum_dict",
    )


# --------------------------------------------------------------------------------------------
# environment E: torch 1.4.0


def generate_torch14(corpus: Corpus) -> None:
    import inspect

    from rwproj.nets import TinyNet

    fresh_workdir(corpus.env)
    seed_everything()
    model = TinyNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(2):
        x = torch.randn(2, 3, 4, 4, generator=gen)
        loss = model(x).logsumexp(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    training = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 3,
        "rng": rng_snapshot(),
    }
    keys = {"model": "weights", "optimizer": "optimizer", "rng": "rng"}
    dest = corpus.out / "training_dict_legacy.pt"
    torch.save(training, str(dest))  # torch 1.4's default: the legacy (non-zip) format
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            training,
            what="{'model', 'optimizer' (Adam, 2 steps), 'epoch', 'rng'} in "
            "torch 1.4's default legacy format",
            writer="torch.save(dict)",
            root_category="extra",
            key_categories=keys,
            weights=("obj['model']", lambda o: o["model"]),
            counters={"epoch": 3, "global_step": 2},
        ),
        "training_dict_rng",
    )

    dest = corpus.out / "model_whole_legacy.pt"
    torch.save(model, str(dest))
    corpus.add_file(
        dest.name,
        corpus.file_doc(
            dest,
            model,
            what="a whole rwproj.nets.TinyNet module, legacy format",
            writer="torch.save(model)",
            root_category="weights",
            weights=("module.state_dict()", lambda m: m.state_dict()),
        ),
        "model_pickle",
    )

    if "_use_new_zipfile_serialization" in inspect.signature(torch.save).parameters:
        dest = corpus.out / "training_dict_zip14.pt"
        torch.save(training, str(dest), _use_new_zipfile_serialization=True)
        corpus.add_file(
            dest.name,
            corpus.file_doc(
                dest,
                training,
                what="the same training dict in torch 1.4's (opt-in, pre-1.6) zip format",
                writer="torch.save(dict, _use_new_zipfile_serialization=True)",
                root_category="extra",
                key_categories=keys,
                weights=("obj['model']", lambda o: o["model"]),
                counters={"epoch": 3, "global_step": 2},
            ),
            "training_dict_rng",
        )
    else:
        log("  torch.save has no _use_new_zipfile_serialization: zip variant skipped")


GENERATORS: dict[str, tuple[Callable[[Corpus], None], tuple[str, ...]]] = {
    "lightning": (
        generate_lightning,
        (
            "pytorch_lightning",
            "torchmetrics",
            "omegaconf",
            "hydra-core",
            "fsspec",
            "lightning-utilities",
        ),
    ),
    "hf_vision": (
        generate_hf_vision,
        (
            "transformers",
            "accelerate",
            "safetensors",
            "tokenizers",
            "huggingface_hub",
            "torchvision",
            "timm",
        ),
    ),
    "sb3": (generate_sb3, ("stable_baselines3", "gymnasium", "cloudpickle")),
    "py311_enum": (
        generate_py311_enum,
        (
            "transformers",
            "accelerate",
            "safetensors",
            "pytorch_lightning",
            "torchmetrics",
            "omegaconf",
            "hydra-core",
            "timm",
            "torchvision",
        ),
    ),
    "torch14": (generate_torch14, ()),
}


# --------------------------------------------------------------------------------------------
# verify-unsafe


_COMPARED = (
    "top_level_type",
    "tensors",
    "module_state_dicts",
    "python_random_states",
    "numpy_generators",
    "objects",
    "leaves",
    "leaf_categories",
    "n_tensors",
)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def strip_write_only(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A weakref.proxy is pickled as its referent and comes back as the object itself."""
    return [{k: v for k, v in o.items() if k != "weakref_proxy"} for o in objects]


def compare_doc(doc: dict[str, Any], obj: Any, label: str) -> list[str]:
    walk = doc["walk"]
    again = walk_object(obj, walk["root_category"], walk["key_categories"])
    doc = dict(doc)
    if "objects" in doc:
        doc["objects"] = strip_write_only(doc["objects"])
    problems = []
    for key in _COMPARED:
        if key in doc and canonical(doc[key]) != canonical(again.get(key)):
            problems.append(f"{label}: {key} differs")
            if key in ("tensors", "leaves", "objects"):
                mine = doc[key] if isinstance(doc[key], list) else sorted(doc[key].items())
                theirs = again[key] if isinstance(again[key], list) else sorted(again[key].items())
                for a, b in zip(mine, theirs):  # noqa: B905 - runs on Python 3.8
                    if canonical(a) != canonical(b):
                        problems.append(f"    truth {canonical(a)[:300]}")
                        problems.append(f"    load  {canonical(b)[:300]}")
                        break
                if len(mine) != len(theirs):
                    problems.append(f"    {len(mine)} in truth, {len(theirs)} loaded")
    if "weights_state_dict" in doc:
        table = doc["weights_state_dict"]
        tensors = [e for e in again["tensors"] if e["category"] == "weights"]
        if not tensors and table["n_tensors"]:
            problems.append(f"{label}: no weights recovered")
    return problems


def verify_member(
    corpus_dir: Path, doc: dict[str, Any], path: Path, label: str, blob: bytes | None = None
) -> list[str]:
    loader = doc.get("loader", doc.get("container"))
    if doc.get("container") in ("json", "text"):
        data = blob if blob is not None else path.read_bytes()
        if "sha256" in doc and sha256_hex(data) != doc["sha256"]:
            return [f"{label}: sha256 differs"]
        if "walk" in doc:  # SB3 data
            from stable_baselines3.common.save_util import json_to_data

            return compare_doc(doc, json_to_data(data.decode("utf-8")), label)
        return []
    if loader == "safetensors":
        from safetensors.torch import load_file

        return compare_doc(doc, load_file(str(path)), label)
    if blob is not None:
        tmp = Path(tempfile.mkdtemp()) / "member.pth"
        tmp.write_bytes(blob)
        try:
            return compare_doc(doc, torch_load_unsafe(tmp), label)
        finally:
            shutil.rmtree(str(tmp.parent))
    return compare_doc(doc, torch_load_unsafe(path), label)


def verify_unsafe(directory: Path) -> int:
    failures = 0
    for truth in sorted(directory.rglob("*.truth.json")):
        doc = json.loads(truth.read_text())
        target = directory / doc["file"]
        problems: list[str] = []
        if "files" in doc:  # a bundle
            if target.is_dir():
                for name, member in doc["files"].items():
                    problems += verify_member(directory, member, target / name, name)
            else:
                with zipfile.ZipFile(str(target)) as zf:
                    for name, member in doc["files"].items():
                        problems += verify_member(directory, member, target, name, zf.read(name))
        else:
            problems += verify_member(directory, doc, target, doc["file"])
        failures += bool(problems)
        log(f"{doc['file']:<48} {'ok' if not problems else 'FAIL'}")
        for problem in problems:
            log(f"    {problem}")
    return failures


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("generate", "verify-unsafe"))
    parser.add_argument("--env", required=True, choices=sorted(GENERATORS))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    sys.dont_write_bytecode = True
    directory = args.directory.resolve()
    log(
        f"[{args.env}] torch {torch.__version__}, python {platform.python_version()} "
        f"({sys.executable})"
    )
    install_project_package()
    if args.command == "generate":
        generate, dists = GENERATORS[args.env]
        corpus = Corpus(args.env, directory, dists)
        generate(corpus)
        corpus.finish()
        return 0
    return 1 if verify_unsafe(directory) else 0


if __name__ == "__main__":
    sys.exit(main())
