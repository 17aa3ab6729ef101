"""Write the kit's fixture files: the reference's answers on the public cases only.

``python -m grader.authoring.fixtures`` (``make fixtures``) writes ``kit/tests/fixtures/public.npz`` and
``public.json``; ``make skeleton`` then copies them into the kit. They hold, for every public
case of ``lab2check.cases``, the reference's outputs and what each catalogue mistake returns
(for the diagnosis), plus the reference's first epochs of each training on a small subset for
the training smoke checks. Never a hidden case, never reference code.
"""
import argparse
import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from grader import DATA, PROJECT, REFERENCE
from grader import rubric as rubric_mod
from grader.answers import cache as answers_cache
from lab2check import cases as cases_mod
from lab2check import local, questions

FOLDER = PROJECT / "kit" / "tests" / "fixtures"
SMOKE = {"n": 300, "epochs": 20, "rtol": 1e-6}   # float64: a correct train agrees to ~1e-12

# How far a recomputed fixture may be from the committed one and still be fresh. Another CPU's
# BLAS kernel rounds differently: on the project's machines the unit answers differ by a unit or
# two in the last place, and the 20-epoch smoke trajectories (a chaotic one, missing-mean's, most)
# by up to 6e-13 relative. The kit's finest check is SMOKE's rtol of 1e-6 and the unit checks'
# atol 1e-9, so these bounds are 10,000 times below anything a check can tell, and any real change
# (a case, the reference, the catalogue) moves some value by far more. A float32 array (the
# float32 cases) gets 16 of its own units in the last place instead, 50 times below float32_rtol.
FRESH = {"rtol": 1e-10, "atol": 1e-13}


def _fresh(dtype) -> dict:
    return {**FRESH, "rtol": max(FRESH["rtol"], 16 * float(np.finfo(dtype).eps))}


def smoke_questions() -> tuple[str, ...]:
    """The training questions the kit smoke-tests: those with public checks (the bonus has none)."""
    return tuple(qid for qid in questions.training_questions() if questions.get(qid).cases is not None)


def public_cases():
    return [c for qid in questions.unit_questions() for c in cases_mod.cases(qid)]


def case_arrays(cases) -> dict:
    """``{"exp|<case id>|<key>": array, "var|<case id>|<mistake>|<key>": array}``: the reference's
    outputs on ``cases`` and what each catalogue mistake returns on them."""
    arrays = {}
    reference = {cid: r.outputs for cid, r in answers_cache._run_cases(REFERENCE, cases).items()}
    for cid, outputs in reference.items():
        for key, value in answers_cache._kept(outputs).items():
            arrays[f"exp|{cid}|{key}"] = value
    for cid, per_mistake in answers_cache.catalogue_variants(cases, reference).items():
        for name, outputs in per_mistake.items():
            for key, value in outputs.items():
                arrays[f"var|{cid}|{name}|{key}"] = value
    return arrays


def read(folder: Path = FOLDER) -> tuple[dict, dict]:
    """The committed ``(meta, arrays)`` of ``folder``."""
    meta = json.loads((folder / "public.json").read_text())
    with np.load(folder / "public.npz", allow_pickle=False) as z:
        return meta, {name: z[name] for name in z.files}


def stale(committed: tuple[dict, dict], now: tuple[dict, dict]) -> list[str]:
    """What differs between the committed ``(meta, arrays)`` and those computed ``now``, one line
    each: meta, a missing or new array, a dtype or shape, or values beyond ``FRESH`` (with the
    largest difference). Empty when the committed fixtures are fresh."""
    (meta_then, then), (meta_now, now_arrays) = committed, now
    problems = [] if meta_then == json.loads(json.dumps(meta_now)) else ["public.json differs from what the "
                                                                         "reference gives now"]
    problems += [f"{name}: committed, no longer computed" for name in sorted(set(then) - set(now_arrays))]
    problems += [f"{name}: computed, not committed" for name in sorted(set(now_arrays) - set(then))]
    for name in sorted(set(then) & set(now_arrays)):
        a, b = np.asarray(then[name]), np.asarray(now_arrays[name])
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{name}: committed {a.dtype}{list(a.shape)}, now {b.dtype}{list(b.shape)}")
        elif a.dtype.kind not in "fc":
            if not np.array_equal(a, b):
                problems.append(f"{name}: committed values differ from the values now")
        elif not np.allclose(a, b, equal_nan=True, **_fresh(a.dtype)):
            with np.errstate(invalid="ignore"):
                gap = np.abs(a.astype(np.float64) - b.astype(np.float64))
            worst = float(np.nanmax(np.where(np.isnan(a) == np.isnan(b), gap, np.inf)))
            tol = _fresh(a.dtype)
            problems.append(f"{name}: differs by up to {worst:.3g} (fresh within rtol={tol['rtol']:.2g}, "
                            f"atol={tol['atol']:g})")
    return problems


def compute(rubric) -> tuple[dict, dict]:
    """``(meta, arrays)`` of the fixture files."""
    cases = public_cases()
    arrays = case_arrays(cases)
    smoke, requests = {}, {}
    with local.use(REFERENCE):
        from lab2.data import binary_targets, load_mnist
        X, labels = load_mnist("train", n=SMOKE["n"], path=DATA)
        import importlib
        for qid in smoke_questions():
            q = questions.get(qid)
            assert q.training is not None and q.module is not None, f"{qid} is a training question"
            module, training = q.module, q.training
            target = training.target
            init = cases_mod.smoke_init(module)
            if target == "labels":
                y = np.zeros((10, labels.size))
                y[labels, np.arange(labels.size)] = 1.0
            else:
                y = binary_targets(labels, rubric.data.digit)
            lr = rubric.model(training.model).lr
            mod = importlib.import_module(f"lab2.{module}")
            if questions.MODULES[module].layers == 1:
                *_, losses = mod.train(X, y, init["W"].copy(), init["b"].copy(), epochs=SMOKE["epochs"], lr=lr)
            else:
                _, losses = mod.train(X, y, {k.split(".")[1]: v.copy() for k, v in init.items()},
                                      epochs=SMOKE["epochs"], lr=lr)
            arrays[f"smoke|{qid}|losses"] = np.asarray(losses, np.float64)
            requests[qid] = (X, y, init, {"module": module, "epochs": SMOKE["epochs"], "lr": lr,
                                          "diverge_factor": rubric.training.diverge_factor})
            smoke[qid] = {"module": module, "target": target, "digit": rubric.data.digit, "lr": lr,
                          "n": SMOKE["n"], "epochs": SMOKE["epochs"], "rtol": SMOKE["rtol"],
                          "diverge_factor": rubric.training.diverge_factor}
    # What each catalogue mistake records on the same smoke run: the kit names them too.
    reference_losses = {qid: arrays[f"smoke|{qid}|losses"] for qid in smoke}
    sent: dict[str, tuple[dict, dict]] = {}  # qid -> (init, options with the data's paths): train requests
    with tempfile.TemporaryDirectory(prefix="lab2-smoke-") as tmp:
        for qid, (X_, y_, init_, opts) in requests.items():
            paths = {}
            for name, value in (("X", X_), ("y", y_), ("X_test", X_[:, :50])):
                paths[name] = str(Path(tmp) / f"{qid}-{name}.npy")
                np.save(paths[name], value)
            sent[qid] = (init_, {**opts, "data": paths})
        per = answers_cache.training_variants(sent, reference_losses, SMOKE["rtol"])
    for qid, variants in per.items():
        for key, losses in variants.items():
            arrays[f"smokevar|{qid}|{key}"] = losses
    tol = rubric.tolerances
    meta = {"about": "Expected values of the public checks, computed from the reference by the grader "
                     "(make fixtures). Do not edit.",
            "tolerances": {"rtol": tol.rtol, "atol": tol.atol, "float32_rtol": tol.float32_rtol,
                           "gradcheck_rel_error": tol.gradcheck_rel_error, "own_loss_credit": tol.own_loss_credit,
                           "purity_share": tol.purity_share},
            "cases": [c.id for c in cases], "smoke": smoke}
    return meta, arrays


def _npz_bytes(arrays: dict) -> bytes:
    """An .npz whose bytes depend only on the arrays (fixed member dates), so git sees real changes only."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.save(member, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def render(rubric) -> dict:
    """``{file name: bytes}`` of the fixture folder."""
    meta, arrays = compute(rubric)
    return {"public.json": (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode(),
            "public.npz": _npz_bytes(arrays)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.authoring.fixtures", description=__doc__.splitlines()[0])
    parser.add_argument("--rubric", default=None)
    args = parser.parse_args(argv)
    rubric = rubric_mod.load(args.rubric) if args.rubric else rubric_mod.load()
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, data in render(rubric).items():
        (FOLDER / name).write_bytes(data)
    print(f"wrote {FOLDER.relative_to(PROJECT)}/public.npz and public.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
