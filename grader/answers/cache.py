"""The reference's answers, computed once and cached on disk: building, keying and loading them.

For every unit case (public and hidden) the reference's outputs and, for diagnosis, what each
catalogue mistake returns; for every training question the reference's loss trajectory and test
accuracy on the grading data (``grader.answers.data``), trained from the requests of
``grader.answers.requests``. The cache key hashes the rubric, the data, the reference code, the
check code, the mutations and the answers modules that decide the answers (this one, ``data``
and ``requests``), so grading a second submission never reruns any of it, and any change to
those reruns it all.

Everything here runs trusted code (the reference and its scripted variants) in this process.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import threadpoolctl

from grader import DATA, PROJECT, REFERENCE
from grader.answers import data as data_mod
from grader.answers import mutations, requests
from grader.answers.data import grading_data, test_labels
from grader.answers.requests import initial_params, train_request
from grader.fsutil import atomic_write
from grader.rubric import Rubric
from grader.submission.training import predictions as rule_predictions
from lab2check import cases as cases_mod
from lab2check import checks, local, mistakes, questions
from lab2check.cases import Case
from lab2check.result import Result, Status

PRUNE_DAYS = 14  # answers not used for this long are removed after the next build


def all_cases(rubric: Rubric) -> list[Case]:
    """Every unit case the grader runs: public (the kit's) then hidden (the rubric's seeds)."""
    out = []
    for qid in questions.unit_questions():
        out += cases_mod.cases(qid) + cases_mod.cases(qid, tuple(rubric.hidden.seeds), hidden=True)
    return out


def _hash_tree(h, folder: Path, pattern: str = "*.py") -> None:
    for path in sorted(folder.rglob(pattern)):
        if "__pycache__" not in path.parts:
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())


def cache_key(rubric: Rubric) -> str:
    """The answers' folder name: a hash of what they are computed from (the rubric's bytes, the
    data files' names and sizes, the reference's and the checks' source, the mutations and the
    answers modules that decide the answers: this one, ``data`` and ``requests``), never of a computed
    float, so every machine finds the same key. The answers under it may differ between machines
    in the last place (another BLAS kernel); that is why a cache is per checkout and never
    committed, and the checks' tolerances (rtol 1e-5) are far above it."""
    h = hashlib.sha256(rubric.sha256.encode())
    for path in sorted(DATA.glob("*.gz")):
        h.update(path.name.encode() + str(path.stat().st_size).encode())
    _hash_tree(h, REFERENCE / "lab2")
    _hash_tree(h, PROJECT / "lab2check")
    for module in (mutations, data_mod, requests):
        assert module.__file__ is not None, "a module of ours is a file"
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class TrainingAnswer:
    """The reference's training of one question, from the initial parameters every ``train``
    starts from (``requests.initial_params``) on the grading subset."""
    losses: list[float]              # one loss per epoch (rubric epochs), recorded before its update
    accuracy: float                  # test accuracy of the trained parameters, by the contract's rule
    init: dict[str, np.ndarray]      # the initial parameters sent ("W", "b" or "params.W1"...)
    # mistake key -> the losses that catalogue mistake records over the compared first epochs
    variants: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Answers:
    """The reference's answers for one rubric; ``data`` maps grading-data names to .npy paths."""
    key: str
    unit: dict[str, dict[str, np.ndarray]]                        # case id -> {output key -> array}
    variants: dict[str, dict[str, dict[str, np.ndarray]]]         # case id -> {mistake id -> {output key -> array}}
    training: dict[str, TrainingAnswer]                           # question -> its reference training
    data: dict[str, Path] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)   # question -> test labels (the parent's only)
    seconds: float = 0.0


# ---------------------------------------------------------------- building and caching
def _run_cases(folder: Path, cases: list[Case]) -> dict[str, Result]:
    """``{case id: Result}`` of the ``lab2`` in ``folder`` (the reference or a mutation), run here."""
    with local.use(folder), np.errstate(all="ignore"):  # the variants overflow on purpose
        return {c.id: checks.run_local(c) for c in cases}


def _kept(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the checks read of the reference's outputs: init_params is judged by properties, so
    only the shapes of its first call are kept (12 MB of weights otherwise, read at every grading)."""
    out = {}
    for key, value in outputs.items():
        if key.startswith(("again.", "other.", "after.")):
            continue  # after.*: the arguments once a call returned, compared with the case's inputs
        out[key] = np.zeros(value.shape, np.int8) if key.startswith("first.") else value
    return out


def variant_outputs(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs of a mistaken variant that differ from the reference's (the only ones a
    diagnosis can use); init_params is judged by properties, never by variants."""
    out = {}
    for key, value in outputs.items():
        if key.startswith(("first.", "again.", "other.", "after.")):
            continue
        ref = reference.get(key)
        if ref is not None and ref.size == value.size == 1:
            ref, value_ = ref.reshape(()), value.reshape(())  # (1, 1) for (): an accepted shape
        else:
            value_ = value
        # Equal up to round-off (1e-6, far below the checks' tolerance and every mistake's 1e-2):
        # a whole-matrix softmax on one column gives the right answer, computed another way.
        if ref is None or not mistakes.same(value_, ref, rtol=1e-6, atol=1e-12):
            out[key] = value
    return out


def _catalogue(tmp: Path) -> Iterator[tuple[str, Path]]:
    """``(mistake key, folder)`` for each catalogue mutation, built below ``tmp``; a second
    mutation of one mistake is keyed "<id>#2"."""
    seen: dict[str, int] = {}
    for mutation in mutations.CATALOGUE:
        folder = mutations.build(mutation, tmp / mutation.name)
        n = seen[mutation.mistake] = seen.get(mutation.mistake, 0) + 1
        yield (mutation.mistake if n == 1 else f"{mutation.mistake}#{n}"), folder


def catalogue_variants(cases: list[Case], reference: dict[str, dict[str, np.ndarray]]) -> dict[str, dict]:
    """``{case id: {mistake key: outputs}}``: what each catalogue mistake returns where it differs
    from ``reference`` (case id -> outputs). A second mutation of one mistake is keyed "<id>#2"."""
    variants: dict[str, dict] = {c.id: {} for c in cases}
    with tempfile.TemporaryDirectory(prefix="lab2-variants-") as tmp:
        for key, folder in _catalogue(Path(tmp)):
            for cid, result in _run_cases(folder, cases).items():
                if result.status is Status.OK:
                    differs = variant_outputs(result.outputs, reference[cid])
                    if differs:
                        variants[cid][key] = differs
    return variants


def training_variants(train_requests: dict[str, tuple[dict, dict]], reference: dict[str, list[float]],
                      rtol: float) -> dict[str, dict[str, np.ndarray]]:
    """``{question: {mistake key: losses}}``: the losses each catalogue mistake records over the
    epochs of ``train_requests`` (question -> (arrays, options) of the train probe), kept where they
    differ from ``reference`` (question -> losses) by more than ``rtol``. A mistake that makes
    the training fail, diverge or record no list of floats has no variant (other checks say so),
    nor one whose loss ends the compared epochs above ``diverge_factor`` times its first: a
    divergence under way (the watch stops it after ``diverge_window`` epochs), not a spike that
    came back down."""
    out: dict[str, dict[str, np.ndarray]] = {qid: {} for qid in train_requests}
    with tempfile.TemporaryDirectory(prefix="lab2-train-variants-") as tmp:
        for key, folder in _catalogue(Path(tmp)):
            for qid, (arrays, options) in train_requests.items():
                with local.use(folder), np.errstate(all="ignore"):
                    result = checks.run_local("train", arrays, options)
                losses = result.outputs.get("losses")
                ref = np.asarray(reference[qid], np.float64)
                if result.status is not Status.OK or "diverged" in result.outputs or losses is None \
                        or losses.size != ref.size or not np.all(np.isfinite(losses)):
                    continue
                if losses[-1] > float(options.get("diverge_factor", np.inf)) * losses[0]:
                    continue
                if np.any(np.abs(losses - ref) > rtol * np.abs(ref)):
                    out[qid][key] = losses.astype(np.float64)
    return out


def build(rubric: Rubric, progress: Callable[[str], None] | None = None) -> Answers:
    """Every answer of ``rubric``, computed now (a minute or two): the reference on every case,
    the catalogue's variants, the reference's trainings and what each mistake records in them."""
    start = time.perf_counter()
    data = grading_data(rubric)
    cases = all_cases(rubric)
    results = _run_cases(REFERENCE, cases)
    unit = {cid: _kept(r.outputs) for cid, r in results.items()}
    broken = [cid for cid, r in results.items() if r.status is not Status.OK]
    if broken:
        raise RuntimeError(f"the reference fails on cases {broken}")
    variants = catalogue_variants(cases, unit)
    training, labels = {}, {}
    for qid in questions.training_questions():
        init = initial_params(qid, rubric)
        arrays, options = train_request(qid, rubric, data, init)
        if progress:
            progress(f"  reference training for {qid}")
        with local.use(REFERENCE):
            result = checks.run_local("train", arrays, options)
        if result.status is not Status.OK:
            raise RuntimeError(f"the reference training for {qid} failed: {result.error}")
        labels[qid] = test_labels(qid, rubric, data)
        params = {k.split(".")[-1]: v for k, v in result.outputs.items() if k.startswith("trained.")}
        module = questions.get(qid).module
        assert module is not None, f"{qid} trains no module"
        accuracy = float(np.mean(rule_predictions(module, data["X_test"], params) == labels[qid]))
        training[qid] = TrainingAnswer(result.outputs["losses"].tolist(), accuracy, init)
    # What each catalogue mistake records over the compared epochs, from the same start.
    k = rubric.training.trajectory_epochs
    first_epochs = {}
    for qid in questions.training_questions():
        arrays, options = train_request(qid, rubric, data, training[qid].init)
        first_epochs[qid] = (arrays, {**options, "epochs": k})
    if progress:
        progress("  the catalogue's mistakes over the first epochs of each training")
    per = training_variants(first_epochs, {q: training[q].losses[:k] for q in first_epochs},
                            rubric.training.trajectory_rtol)
    for qid in first_epochs:
        training[qid].variants = per[qid]
    return Answers(cache_key(rubric), unit, variants, training, data, labels, time.perf_counter() - start)


def _flatten(answers: Answers) -> dict[str, np.ndarray]:
    """Every array of ``answers`` under a flat name ("unit|<case>|<key>", "train|<qid>|losses"...)."""
    arrays = {}
    for cid, outs in answers.unit.items():
        for k, v in outs.items():
            arrays[f"unit|{cid}|{k}"] = v
    for cid, per in answers.variants.items():
        for mistake, outs in per.items():
            for k, v in outs.items():
                arrays[f"var|{cid}|{mistake}|{k}"] = v
    for qid, t in answers.training.items():
        arrays[f"train|{qid}|losses"] = np.asarray(t.losses)
        for k, v in t.init.items():
            arrays[f"init|{qid}|{k}"] = v
        for k, v in t.variants.items():
            arrays[f"trainvar|{qid}|{k}"] = np.asarray(v)
    return arrays


def _pack(arrays: dict[str, np.ndarray], path: Path) -> dict[str, list]:
    """Write the arrays' raw bytes end to end (0600: the grader's only); the index says where
    each one is: name -> [offset, dtype, shape].

    Thousands of small arrays load in milliseconds this way (an .npz takes seconds), and
    nothing is ever unpickled.
    """
    index, offset, parts = {}, 0, []
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        index[name] = [offset, array.dtype.str, list(array.shape)]
        parts.append(raw)
        offset += len(raw)
    atomic_write(path, b"".join(parts), mode=0o600)
    return index


def _unpack(path: Path, index: dict[str, list]) -> dict[str, np.ndarray]:
    buf = path.read_bytes()
    return {name: np.frombuffer(buf, dtype=np.dtype(dt), count=int(np.prod(shape)), offset=off).reshape(shape)
            for name, (off, dt, shape) in index.items()}


def _unflatten(key: str, arrays: dict[str, np.ndarray], meta: dict, data: dict[str, Path],
               labels: dict[str, np.ndarray]) -> Answers:
    """``_flatten`` undone; ``meta``: the accuracies and the build's seconds of meta.json."""
    unit: dict[str, dict[str, np.ndarray]] = {}
    variants: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    training: dict[str, TrainingAnswer] = {}

    def trained(qid: str) -> TrainingAnswer:
        return training.setdefault(qid, TrainingAnswer([], meta["accuracy"].get(qid, 0.0), {}))

    for name, v in arrays.items():
        parts = name.split("|")
        if parts[0] == "unit":
            unit.setdefault(parts[1], {})[parts[2]] = v
        elif parts[0] == "var":
            variants.setdefault(parts[1], {}).setdefault(parts[2], {})[parts[3]] = v
        elif parts[0] == "train":
            trained(parts[1]).losses = v.tolist()
        elif parts[0] == "init":
            trained(parts[1]).init[parts[2]] = v
        elif parts[0] == "trainvar":
            trained(parts[1]).variants[parts[2]] = v
    return Answers(key, unit, variants, training, data, labels, meta.get("seconds", 0.0))


def load(rubric: Rubric, progress: Callable[[str], None] | None = None) -> Answers:
    """The cached answers for this rubric, building them first when missing (about 15 s)."""
    key = cache_key(rubric)
    folder = data_mod.CACHE / "reference" / key
    data = grading_data(rubric)
    labels = {qid: test_labels(qid, rubric, data) for qid in questions.training_questions()}
    if (folder / "meta.json").exists():
        with contextlib.suppress(OSError):
            os.utime(folder / "meta.json")  # marks the folder as in use: _prune keeps it
        meta = json.loads((folder / "meta.json").read_text())
        return _unflatten(key, _unpack(folder / "answers.bin", meta["index"]), meta, data, labels)
    if progress:
        progress("building the reference's answers for this rubric (once; a minute or two): "
                 "its outputs on every case and its four 500-epoch trainings")
    # One BLAS thread: the build's matrices are small, and with the default threads a build on a
    # loaded machine took up to 259 s against 40 s (bench/README.md).
    with threadpoolctl.threadpool_limits(1):
        answers = build(rubric, progress)
    folder.mkdir(parents=True, exist_ok=True)
    index = _pack(_flatten(answers), folder / "answers.bin")
    meta = {"accuracy": {q: t.accuracy for q, t in answers.training.items()}, "seconds": answers.seconds,
            "index": index}
    atomic_write(folder / "meta.json", json.dumps(meta))  # written last: its presence means complete
    _prune(folder.parent, keep=folder)
    return answers


def _prune(parent: Path, keep: Path, days: float = PRUNE_DAYS) -> None:
    """Remove the answers of other rubrics or code versions not used for ``days`` days (1-2 MB each).

    Runs after a build only, so grading never pays for it; a folder another grader is loading
    has a fresh mtime (``load`` touches it) and stays.
    """
    cutoff = time.time() - days * 86400
    for folder in parent.iterdir():
        marker = folder / "meta.json"
        try:
            stale = folder != keep and folder.is_dir() and (not marker.exists() and folder.stat().st_mtime < cutoff
                                                             or marker.exists() and marker.stat().st_mtime < cutoff)
        except OSError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
