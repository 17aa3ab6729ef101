"""The students' side: run the public checks of one question against their own ``lab2``.

Used by the kit's ``tests/test_lab2.py`` (``pytest -k q1_4``). The expected values come from
the fixture files ``tests/fixtures/public.{npz,json}``, computed from the reference by the
grader (``make fixtures``); no reference code and no hidden case is here. The checks and their
messages are the grader's own (``lab2check.checks``), so a student sees what the grader would say.

Student code runs in this process: each call has a time limit (an infinite loop ends that
question with a message naming the function); pytest-timeout is the backstop.
"""
import json
import signal
import tempfile
from pathlib import Path

import numpy as np

from lab2check import cases as cases_mod
from lab2check import checks, probes, trajectory
from lab2check.questions import MODULES

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CALL_SECONDS = 20


class CallTimeout(Exception):
    """Raised inside student code when one call takes too long."""


def load_fixtures(folder=FIXTURES):
    """``(meta, arrays)``: the public expected values, as written by ``grader/authoring/fixtures.py``."""
    meta = json.loads((Path(folder) / "public.json").read_text())
    with np.load(Path(folder) / "public.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


def _answers(arrays, case_id):
    expected: dict[str, dict] = {}
    variants: dict[str, dict] = {}
    for name, value in arrays.items():
        what, cid, *rest = name.split("|")
        if cid != case_id:
            continue
        if what == "exp":
            expected[rest[0]] = value
        elif what == "var":
            variants.setdefault(rest[0], {})[rest[1]] = value
    return expected, variants


def _timed(run, seconds):
    """Run ``run()`` with an alarm that raises CallTimeout inside student code."""
    def alarm(signum, frame):
        raise CallTimeout(f"took more than {seconds:g} s (an infinite loop?)")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(qid, folder=FIXTURES, call_seconds=CALL_SECONDS) -> list:
    """The messages of the failed public checks of ``qid`` (empty when all pass).

    A question whose functions all raise NotImplementedError gives the one line
    ``"<qid>: not implemented yet: <module>.<function> raises NotImplementedError"``.
    """
    meta, arrays = load_fixtures(folder)
    tol = checks.Tolerances(**meta["tolerances"])
    failures, pending = [], []
    judged, outcomes, all_variants = [], [], {}
    for case in cases_mod.cases(qid):
        expected, variants = _answers(arrays, case.id)
        result = _timed(lambda case=case: checks.run_local(case), call_seconds)
        if checks.not_implemented(result):
            pending.append(result.error["message"])
            continue
        judged.append(case)
        outcomes.append(checks.evaluate(case, result, expected, variants, tol))
        all_variants[case.id] = variants
    # As the grader does: a pass on a case that cannot tell the mistake named on the others is none,
    # listed after the other failures; the first line is the grader's summary (the ids named).
    settled = [o for o in checks.without_blind_passes(judged, outcomes, all_variants) if not o.passed]
    settled.sort(key=lambda o: o.blind)
    lead = checks.first_line(qid, settled)
    failures += ([lead] if any(o.ids for o in settled) else []) + [o.message for o in settled]
    if qid in meta["smoke"]:
        smoke = _smoke(qid, meta, arrays, call_seconds * 3)
        if smoke is None:
            module = meta["smoke"][qid]["module"]
            pending.append(pending[0] if pending else f"{module}.train raises NotImplementedError")
        else:
            failures += smoke
    if pending and not failures:
        return [f"{qid}: {pending[0]}"]
    if pending:
        failures.append(f"{qid}: {pending[0]}")
    return _unique(failures)


def _unique(messages):
    seen, out = set(), []
    for m in messages:
        if m not in seen:
            seen.add(m)
            out.append(m)
    return out


def _smoke(qid, meta, arrays, seconds):
    """A few epochs of the student's ``train`` on a small subset, against the reference's losses.

    None when train is not implemented; else the failure messages.
    """
    spec = meta["smoke"][qid]
    from lab2 import data  # the kit's own MNIST reader, given to students
    try:
        X, labels = data.load_mnist("train", n=spec["n"])
    except Exception as err:  # noqa: BLE001 - data.MnistDataError, or a student's edit of data.py
        return [f"{qid}: the training smoke check could not load MNIST: {err}"]
    if spec["target"] == "labels":
        y = np.zeros((10, labels.size))
        y[labels, np.arange(labels.size)] = 1.0
    else:
        y = data.binary_targets(labels, spec["digit"])
    init = cases_mod.smoke_init(spec["module"])
    with tempfile.TemporaryDirectory(prefix="lab2-smoke-") as tmp:
        paths = {}
        for name, value in (("X", X), ("y", y), ("X_test", X[:, :50])):
            paths[name] = str(Path(tmp) / f"{name}.npy")
            np.save(paths[name], value)
        watch = (spec["diverge_factor"], spec.get("diverge_window", probes.DIVERGE_WINDOW))
        options = {"module": spec["module"], "epochs": spec["epochs"], "lr": spec["lr"],
                   "diverge_factor": watch[0], "diverge_window": watch[1], "data": paths}
        result = _timed(lambda: checks.run_local("train", init, options), seconds)
    call = f"{spec['module']}.train(X, y, ..., epochs={spec['epochs']}, lr={spec['lr']:g}) on the first {spec['n']} " \
           f"training examples"
    if checks.not_implemented(result):
        return None
    if result.status != "ok":
        return [checks.failure(result).message]
    out = result.outputs
    diverged = int(out["diverged"].reshape(-1)[0]) if "diverged" in out and out["diverged"].any() else 0
    ref = arrays[f"smoke|{qid}|losses"]
    variants = {name.split("|")[2]: v for name, v in arrays.items() if name.startswith(f"smokevar|{qid}|")}
    outputs = MODULES[spec["module"]].outputs
    context = trajectory.Trajectory(spec["n"], variants, outputs if outputs > 1 else None)
    outcomes = trajectory.evaluate_training(out.get("losses"), diverged, ref, spec["epochs"], spec["epochs"],
                                            spec["rtol"], float("inf"), call, m=spec["n"], context=context,
                                            described=result.types.get("losses", ""),
                                            item=out.get("losses_item"), watch=watch)
    return [o.message for _, o in outcomes if not o.passed]
