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
import importlib
import traceback

import numpy as np

from lab2check.cases import GRAD_KEYS, PARAM_KEYS
from lab2check.plain import describe
from lab2check.questions import MODULES


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


def lab2_module(name: str):
    """``lab2.<name>``, imported from ``sys.path``."""
    try:
        return importlib.import_module(f"lab2.{name}")
    except BaseException as exc:  # noqa: BLE001 - a student's import may raise anything, SystemExit included
        raise StudentError(f"importing lab2.{name}", exc) from None


def call(mod: str, func: str, *args, **kwargs):
    """Call ``lab2.<mod>.<func>(*args, **kwargs)``; a missing function or any exception -> StudentError."""
    where = f"{mod}.{func}"
    fn = getattr(lab2_module(mod), func, None)
    if not callable(fn):
        raise StudentError(where, AttributeError(f"lab2.{mod} has no function {func}"))
    try:
        return fn(*args, **kwargs)
    except Diverged:
        raise  # the probe's own signal from inside the student's train(): probe_train handles it
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

    Returns the flattened result under ``out`` and, under ``after.<name>`` (``after.<name>.<key>``
    for a dict argument), what each argument holds once the function returned: the grader
    compares it with the input it sent (``checks._mutated``), in its own process, so no patch in
    the child can turn the purity check off.
    """
    names = options["args"]
    params_keys = options.get("params", {})  # {"params": ["W1", "b1", ...]} builds dict arguments
    args = []
    for name in names:
        if name in params_keys:
            value = {k: arrays[f"{name}.{k}"].copy() for k in params_keys[name]}
        else:
            value = arrays[name].copy()
        args.append(value)
    result = call(options["module"], options["function"], *args, **options.get("kwargs", {}))
    out = _flatten("out", result, {})
    for name, value in zip(names, args):
        _flatten(f"after.{name}", value, out)
    return out


def probe_import(arrays, options):
    """Import the modules named in ``options['modules']``; nothing is returned."""
    for name in options["modules"]:
        lab2_module(name)
    return {}


def _params_from(arrays, name="params"):
    return {k: arrays[f"{name}.{k}"].copy() for k in PARAM_KEYS if f"{name}.{k}" in arrays}


def _loss_module(module):
    return MODULES[module].loss_module


def _pair(where, value):
    """``forward`` of the two-layer modules returns ``(y_hat, cache)``."""
    if not (isinstance(value, tuple) and len(value) == 2):
        raise StudentError(where, TypeError(f"must return a tuple (y_hat, cache), returned {describe(value)}"))
    return value


def probe_init(arrays, options):
    """``init_params(seed=s)`` twice, ``seed=s+1`` once, with the contract's default sizes."""
    module, seed = options["module"], options["seed"]
    out = {}
    for prefix, s in (("first", seed), ("again", seed), ("other", seed + 1)):
        params = call(module, "init_params", seed=s)
        if not isinstance(params, dict):
            raise StudentError(f"{module}.init_params", TypeError(f"must return a dict of W1, b1, W2, b2, returned "
                                                                 f"{describe(params)}"))
        for k in PARAM_KEYS:
            out[f"{prefix}.{k}"] = params.get(k)
    return out


def probe_chain(arrays, options):
    """``forward`` -> ``loss`` -> ``backward`` of a two-layer module, as training does it.

    ``cache`` stays opaque: it goes from the student's forward to the student's backward inside
    this process. A failing loss (another question's function) does not stop the chain.
    """
    module = options["module"]
    X, y, params = arrays["X"].copy(), arrays["y"].copy(), _params_from(arrays)
    y_hat, cache = _pair(f"{module}.forward", call(module, "forward", X, params))
    out = {"y_hat": y_hat}
    try:
        out["loss"] = call(_loss_module(module), "loss", y.copy(), np.array(y_hat, copy=True))
    except StudentError:
        out["loss"] = None  # another question's function: the loss question says what is wrong
    grads = call(module, "backward", X, y, params, cache)
    if not isinstance(grads, dict):
        raise StudentError(f"{module}.backward", TypeError(f"must return a dict of dW1, db1, dW2, db2, returned "
                                                         f"{describe(grads)}"))
    for k in GRAD_KEYS:
        out[k] = grads.get(k)
    return out


def _losses_at(module, X, y, stacks):
    """The student's ``loss(y, forward(X, params))`` at every perturbed parameter set.

    A value that is not a real number (or a failing call) is NaN: the grader forms the
    differences and says what went wrong.
    """
    loss_mod = _loss_module(module)
    count = len(next(iter(stacks.values())))
    out = np.full(count, np.nan)
    for row in range(count):
        p = {k: v[row].copy() for k, v in stacks.items()}
        if MODULES[module].layers == 1:
            y_hat = call(module, "forward", X, p["W"], p["b"])
        else:
            y_hat = _pair(f"{module}.forward", call(module, "forward", X, p))[0]
        value = call(loss_mod, "loss", y.copy(), y_hat)
        try:
            out[row] = float(value)
        except (TypeError, ValueError):
            pass
    return out


def probe_numgrad(arrays, options):
    """The student's analytic gradient, and the student's own loss at the perturbed parameter
    sets the grader sent (``perturbed.<name>``, see ``lab2check.gradcheck``), unless
    ``options['losses']`` is false (the grader then compares with the reference's gradient only).

    Only the values cross back: the differences are formed by the grader, so nothing patched
    here can change them.
    """
    module = options["module"]
    X, y = arrays["X"].copy(), arrays["y"].copy()
    stacks = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("perturbed.")}
    if MODULES[module].layers == 1:
        W, b = arrays["W"].copy(), arrays["b"].copy()
        # The case gives the right y_hat: a wrong forward is its own question's, not the gradient's.
        y_hat = arrays["y_hat"].copy() if "y_hat" in arrays else call(module, "forward", X, W, b)
        analytic = call(module, "gradients", X, y, y_hat)
        if not (isinstance(analytic, tuple) and len(analytic) == 2):
            raise StudentError(f"{module}.gradients", TypeError(f"must return a tuple (dW, db), returned "
                                                              f"{describe(analytic)}"))
        analytic = dict(zip(("W", "b"), analytic))
    else:
        params = _params_from(arrays)
        y_hat, cache = _pair(f"{module}.forward", call(module, "forward", X, params))
        grads = call(module, "backward", X, y, {k: v.copy() for k, v in params.items()}, cache)
        if not isinstance(grads, dict):
            raise StudentError(f"{module}.backward", TypeError(f"must return a dict, returned {describe(grads)}"))
        analytic = {k: grads.get("d" + k) for k in PARAM_KEYS}
    out = {f"grad.{k}": v for k, v in analytic.items()}
    if not options.get("losses", True):
        return out  # the grader knows the student's loss and forward are right: it needs no loss values
    try:
        out["losses"] = _losses_at(module, X, y, stacks)
    except StudentError:
        pass  # the loss or forward fails: their own questions say so; no own-loss comparison
    return out


class Diverged(BaseException):
    """Raised from inside the student's training loop (a BaseException: ``except Exception`` won't catch it).

    ``why`` is ``NOT_FINITE`` or ``STAYED_HIGH``, sent back as the probe's ``diverged`` value
    (for the message only: the grader judges nothing else of it)."""

    def __init__(self, why: int):
        super().__init__(why)
        self.why = why


NOT_FINITE, STAYED_HIGH = 1, 2


DIVERGE_WINDOW = 50  # the rubric's training.diverge_window, for callers that do not say (the kit's smoke runs)


def _watch_loss(module, factor, seen, window=DIVERGE_WINDOW):
    """Wrap ``loss`` where the student's ``train`` will look it up, to record and stop divergence.

    A training diverged when the loss it watches is not finite, or when it stays above
    ``factor`` times its first value for ``window`` calls in a row (epochs, for a train that
    computes one loss per epoch): a spike that comes back down within the window is no
    divergence (a step that overshoots, then recovers: its 500 epochs run), a run that stays
    high is stopped after ``window`` epochs (50 of 500 in the rubric: a tenth of a training's
    CPU), and a nan stops it at once.
    Returns a function that undoes the patch.
    """
    original = getattr(lab2_module(_loss_module(module)), "loss", None)
    if not callable(original):
        return lambda: None
    first: list[float] = []  # the first watched value
    above = [0]  # how many calls in a row it was exceeded

    def watched(*args, **kwargs):
        value = original(*args, **kwargs)
        try:
            v = float(value)
        except (TypeError, ValueError):
            return value
        seen.append(v)
        # Judged on the contract's loss of the same predictions, not on the student's value: a
        # wrong loss function (only the y = 1 term, or one without clipping that gives inf on a
        # confident mistake) must not stop a training that is going well. The student's own
        # value is judged only when the arguments are not two arrays of one shape.
        ce = _cross_entropy(module, *args[:2]) if len(args) >= 2 else None
        judged = v if ce is None else ce
        if not np.isfinite(judged):
            raise Diverged(NOT_FINITE)
        if not first:
            first.append(judged)
        above[0] = above[0] + 1 if first[0] > 0 and judged > factor * first[0] else 0
        if above[0] >= window:
            raise Diverged(STAYED_HIGH)
        return value

    patched = []
    for name in {_loss_module(module), module}:
        mod = lab2_module(name)
        if getattr(mod, "loss", None) is original:
            mod.loss = watched
            patched.append(mod)

    def undo():
        for mod in patched:
            mod.loss = original
    return undo


def _cross_entropy(module, y, y_hat):
    """Mean cross-entropy of ``(y, y_hat)``, for the divergence watch only (it decides when a
    run is stopped, never a point); None when the arguments are not two arrays of one shape,
    nan when they hold a nan."""
    try:
        t = np.asarray(y, np.float64)
        p = np.clip(np.asarray(y_hat, np.float64), 1e-7, 1 - 1e-7)
        if t.shape != p.shape or t.ndim != 2 or not t.size:
            return None
        kept = t * np.log(p) if MODULES[module].outputs > 1 else t * np.log(p) + (1 - t) * np.log1p(-p)
        return float(-kept.sum() / t.shape[1])  # nan when y_hat holds a nan: a diverged run
    except (TypeError, ValueError):
        return None


def _bounded_losses(losses, epochs):
    """At most ``epochs + 1`` recorded losses, and how many there were (a list of millions is
    told, never sent); anything that is not a list or 1-D array is sent as is, to be described."""
    if type(losses) in (list, tuple) or (type(losses) is np.ndarray and losses.ndim == 1):
        return list(losses[:epochs + 1]), len(losses)
    return losses, None


def probe_train(arrays, options):
    """Train from the given initial parameters on the grading data.

    Returns what the student's train returned and nothing computed from it: the trained
    parameters (``trained.<name>``) and the recorded losses (at most ``epochs + 1``, with their
    count); predict runs in a request of its own (``probe_predict``). The grader
    computes the loss and the accuracy of those parameters itself. Data arrays come from
    read-only ``.npy`` files (``options['data']``: name -> path), mapped rather than copied, so
    several children share one copy in memory.
    """
    module, epochs, lr = options["module"], int(options["epochs"]), float(options["lr"])
    data = {k: np.load(path, mmap_mode="r").view(np.ndarray) for k, path in options["data"].items()}
    X, y = np.array(data["X"]), np.array(data["y"])   # private copies: train may scribble on them
    seen: list[float] = []
    undo = _watch_loss(module, float(options.get("diverge_factor", 10.0)), seen,
                       int(options.get("diverge_window", DIVERGE_WINDOW)))
    out: dict[str, object] = {}
    try:
        if MODULES[module].layers == 1:
            result = call(module, "train", X, y, arrays["W"].copy(), arrays["b"].copy(), epochs=epochs, lr=lr)
            if not (isinstance(result, tuple) and len(result) == 3):
                raise StudentError(f"{module}.train", TypeError(f"must return (W, b, losses), returned "
                                                              f"{describe(result)}"))
            W, b, losses = result
            trained = {"W": W, "b": b}
        else:
            result = call(module, "train", X, y, _params_from(arrays), epochs=epochs, lr=lr)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise StudentError(f"{module}.train", TypeError(f"must return (params, losses), returned "
                                                              f"{describe(result)}"))
            params, losses = result
            trained = {k: params.get(k) for k in PARAM_KEYS} if isinstance(params, dict) else {"params": params}
    except Diverged as stop:
        out.update(diverged=stop.why, losses=list(seen[:epochs + 1]))
        return out
    finally:
        undo()
    out.update({f"trained.{k}": v for k, v in trained.items()})
    out["losses"], count = _bounded_losses(losses, epochs)
    if count is not None:
        out["losses_count"] = count
        if count and type(losses[0]) is np.ndarray and losses[0].size > 1:
            out["losses_item"] = losses[0]  # a list of arrays: the first says what they are
    return out


def probe_predict(arrays, options):
    """``predict`` on the test inputs (``options['data']['X_test']``, mapped read-only) with the
    parameters the grader sends back (those the student's train returned).

    A request of its own, after the training's: whatever predict does (raise, exit, hang) costs
    this request only, never the training's points.
    """
    module = options["module"]
    X_test = np.load(options["data"]["X_test"], mmap_mode="r").view(np.ndarray)
    if MODULES[module].layers == 1:
        args: tuple = (arrays["W"].copy(), arrays["b"].copy())
    else:
        args = (_params_from(arrays),)
    return {"predictions": call(module, "predict", X_test, *args)}


PROBES = {
    "call": probe_call,
    "import": probe_import,
    "init": probe_init,
    "chain": probe_chain,
    "numgrad": probe_numgrad,
    "train": probe_train,
    "predict": probe_predict,
}


def run(name: str, arrays: dict, options: dict) -> dict:
    """Run the probe ``name``; raises StudentError when student code fails."""
    return PROBES[name](arrays, options)
