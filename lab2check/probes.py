"""Probes: call a ``lab2`` implementation on given inputs and collect what it returns.

A probe runs wherever the implementation may run: in the grader's sandboxed child (student
code), in the grader itself (the reference and the catalogue's mistaken variants, to compute
expected values), and in the students' own pytest run. It imports ``lab2.<module>`` from
``sys.path`` and returns a dict of raw values; ``lab2check.plain.encode`` turns them into
plain arrays.

``run(name, arrays, options)`` is the only entry point. Every call into ``lab2`` goes through
``call``, which turns an exception into ``StudentError`` naming the function, so that a
message can say "hidden_layer.backward raised ValueError: ...".
"""
import copy
import importlib
import traceback

import numpy as np


class StudentError(Exception):
    """An exception raised by student code, with the function it came from."""

    def __init__(self, where: str, exc: BaseException):
        self.where = where
        self.type = type(exc).__name__
        self.not_implemented = isinstance(exc, NotImplementedError)
        text = str(exc)
        self.detail = text[:500]
        # The last frames, where the student's own files are: enough to find the line.
        frames = traceback.extract_tb(exc.__traceback__)[1:][-3:]
        self.traceback = "".join(traceback.format_list(frames))[-2000:]
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.not_implemented:
            return f"not implemented yet: {self.where} raises NotImplementedError"
        return f"{self.where} raised {self.type}: {self.detail}" if self.detail else f"{self.where} raised {self.type}"


def module(name: str):
    """``lab2.<name>``, imported from ``sys.path``."""
    try:
        return importlib.import_module(f"lab2.{name}")
    except BaseException as exc:  # noqa: BLE001 - a student's import may raise anything, SystemExit included
        raise StudentError(f"importing lab2.{name}", exc) from None


def call(mod: str, func: str, *args, **kwargs):
    """Call ``lab2.<mod>.<func>(*args, **kwargs)``; a missing function or any exception -> StudentError."""
    where = f"{mod}.{func}"
    fn = getattr(module(mod), func, None)
    if not callable(fn):
        raise StudentError(where, AttributeError(f"lab2.{mod} has no function {func}"))
    try:
        return fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included, on purpose
        raise StudentError(where, exc) from None


def _flatten(prefix: str, value, out: dict):
    """Tuples become ``prefix.0``, ``prefix.1``...; dicts ``prefix.<key>``; anything else ``prefix``."""
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _flatten(f"{prefix}.{i}", v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value
    return out


def probe_call(arrays, options):
    """``module.function(*args)``; arrays named in ``options['args']`` are passed as deep copies.

    Returns the flattened result under ``out`` and, under ``mutated.<name>``, 1 for each input
    the function changed in place.
    """
    names = options["args"]
    params_keys = options.get("params", {})  # {"params": ["W1", "b1", ...]} builds dict arguments
    args, originals = [], {}
    for name in names:
        if name in params_keys:
            value = {k: arrays[f"{name}.{k}"].copy() for k in params_keys[name]}
        else:
            value = arrays[name].copy()
        originals[name] = copy.deepcopy(value)
        args.append(value)
    result = call(options["module"], options["function"], *args, **options.get("kwargs", {}))
    out = _flatten("out", result, {})
    for name, value, before in zip(names, args, originals.values()):
        out[f"mutated.{name}"] = int(not _same(value, before))
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is np.ndarray and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def probe_import(arrays, options):
    """Import the modules named in ``options['modules']``; nothing is returned."""
    for name in options["modules"]:
        module(name)
    return {}


PROBES = {
    "call": probe_call,
    "import": probe_import,
}


def run(name: str, arrays: dict, options: dict) -> dict:
    """Run the probe ``name``; raises StudentError when student code fails."""
    return PROBES[name](arrays, options)
