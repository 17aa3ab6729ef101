#!/usr/bin/env python
"""Which near-duplicate detector: ``copydetect`` against the grader's own winnowing, same inputs.

    .venv/bin/python bench/similarity_compare.py [--students 100]
    COPYDETECT_PATH=/tmp/cdenv .venv/bin/python bench/similarity_compare.py   # copydetect not in the venv

Prints, for each detector: its scores on a planted class (four independent solutions in
different styles and the reference, a copy with renamed variables and reordered functions, a
copy with comments and docstrings rewritten, a copy of the reference, a copy of one module
only), the gap between the lowest planted copy and the highest independent pair, the same
figures over a class of ``--students`` generated from the five solutions with random renamings
and reorderings (pairs from one solution are copies, others independent), the time to
fingerprint and compare them all, and whether two runs in two processes give the same scores.
Both use the skeleton as boilerplate. The figures and the decision are in ``bench/README.md``.

copydetect is used the way it works best here: one document per student (the student's files
joined), its ``CodeFingerprint``/``compare_files`` API with its default thresholds (noise 25,
guarantee 30 filtered characters), the skeleton's fingerprints as its boilerplate; a pair's
score is the smaller of its two overlap fractions (both sides mostly shared).
"""
import argparse
import io
import itertools
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))   # the tests' class generator (grader itself is installed)
if os.environ.get("COPYDETECT_PATH"):
    sys.path.insert(0, os.environ["COPYDETECT_PATH"])

import classroom  # noqa: E402

from grader.batch.similarity import near_duplicates as nd  # noqa: E402

BASES = ("loops", "classes", "helpers", "terse", "reference")


def planted() -> tuple[dict, set]:
    """The test's class: ``({label: files}, {copied pairs})``."""
    c = {s: classroom.solution(s) for s in classroom.STYLES}
    c["reference"] = classroom.reference()
    c["copy-renamed"] = classroom.reorder(classroom.rename(c["loops"], 1), 1)
    c["copy-recommented"] = classroom.recomment(c["classes"])
    c["copy-of-reference"] = classroom.reference()
    partial = dict(c["terse"])
    partial["lab2/multiclass.py"] = c["helpers"]["lab2/multiclass.py"]
    c["copy-one-module"] = partial
    copies = {frozenset(p) for p in (("loops", "copy-renamed"), ("classes", "copy-recommented"),
                                     ("reference", "copy-of-reference"))}
    return c, copies


def generated(n: int, seed: int = 0) -> tuple[dict, dict]:
    """``n`` students: solution ``i % 5``, renamed and reordered at random, a third re-commented."""
    rng = random.Random(seed)
    base = {s: classroom.solution(s) for s in classroom.STYLES}
    base["reference"] = classroom.reference()
    out, origin = {}, {}
    for i in range(n):
        style = BASES[i % len(BASES)]
        files = classroom.reorder(classroom.rename(base[style], rng.randrange(10**6)), rng.randrange(10**6))
        if rng.random() < 1 / 3:
            files = classroom.recomment(files)
        out[f"s{i:03d}"] = files
        origin[f"s{i:03d}"] = style
    return out, origin


# --- the two detectors: fingerprint everyone, then score every pair ---------------------------------

def ours(students: dict, skeleton: dict) -> dict:
    skip = nd.boilerplate(skeleton)
    prints = {k: nd.fingerprints(v, skip) for k, v in students.items()}
    return {(a, b): nd.score(prints[a], prints[b]) for a, b in itertools.combinations(sorted(students), 2)}


def ours_containment(students: dict, skeleton: dict) -> dict:
    skip = nd.boilerplate(skeleton)
    prints = {k: nd.fingerprints(v, skip).hashes for k, v in students.items()}
    return {(a, b): (len(prints[a] & prints[b]) / min(len(prints[a]), len(prints[b]))
                     if min(len(prints[a]), len(prints[b])) >= nd.MIN_FINGERPRINTS else 0.0)
            for a, b in itertools.combinations(sorted(students), 2)}


def copydetect_scores(students: dict, skeleton: dict) -> dict:
    import numpy as np
    from copydetect import CodeFingerprint, compare_files, defaults
    k, win = defaults.NOISE_THRESHOLD, defaults.GUARANTEE_THRESHOLD - defaults.NOISE_THRESHOLD + 1
    skip = np.unique(np.concatenate([
        np.array(list(CodeFingerprint(name, k, 1, fp=io.StringIO(text)).hashes), dtype=np.int64)
        for name, text in skeleton.items()]))

    def doc(files):
        return CodeFingerprint("student.py", k, win, boilerplate=skip, fp=io.StringIO("\n".join(files.values())))
    prints = {key: doc(files) for key, files in students.items()}
    scores = {}
    for a, b in itertools.combinations(sorted(students), 2):
        _, (sa, sb), _ = compare_files(prints[a], prints[b])
        scores[(a, b)] = float(min(sa, sb))
    return scores


DETECTORS = {"winnowing (grader, Jaccard)": ours, "winnowing (grader, containment)": ours_containment,
             "copydetect 0.5.0": copydetect_scores}


def separation(scores: dict, is_copy) -> dict:
    copies = [s for p, s in scores.items() if is_copy(p)]
    others = [s for p, s in scores.items() if not is_copy(p)]
    return {"lowest_copy": min(copies), "highest_independent": max(others), "gap": min(copies) - max(others),
            "copies": len(copies), "independent": len(others)}


def _child(detector: str) -> None:
    """Print the planted class's scores as JSON (run in fresh processes to compare runs)."""
    students, _ = planted()
    scores = DETECTORS[detector](students, classroom.skeleton())
    print(json.dumps({f"{a}|{b}": round(s, 6) for (a, b), s in sorted(scores.items())}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--_child")
    args = p.parse_args(argv)
    if args._child:
        _child(args._child)
        return 0
    detectors = dict(DETECTORS)
    try:
        t = time.perf_counter()
        import copydetect
        print(f"copydetect {copydetect.__version__} imported in {time.perf_counter() - t:.2f} s "
              f"(it imports matplotlib.pyplot and jinja2)")
    except ImportError:
        print("copydetect is not installed (pip install --target DIR copydetect==0.5.0 Jinja2 MarkupSafe; "
              "COPYDETECT_PATH=DIR): measuring the grader's winnowing only")
        detectors.pop("copydetect 0.5.0")
    skeleton = classroom.skeleton()
    students, copies = planted()
    many, origin = generated(args.students)
    for name, detect in detectors.items():
        print(f"\n== {name}")
        scores = detect(students, skeleton)
        top = sorted(scores.items(), key=lambda kv: -kv[1])[:8]
        for (a, b), s in top:
            print(f"   {s:.3f}  {a} / {b}")
        sep = separation({p: s for p, s in scores.items() if "one-module" not in "".join(p)},
                         lambda pair: frozenset(pair) in copies)
        one = max(s for p, s in scores.items() if "copy-one-module" in p and ("helpers" in p))
        print(f"   planted: lowest copy {sep['lowest_copy']:.3f}, highest independent pair "
              f"{sep['highest_independent']:.3f}, gap {sep['gap']:+.3f}; one module of three copied: {one:.3f}")
        env = dict(os.environ)
        runs = []
        for seed in ("1", "2"):
            env["PYTHONHASHSEED"] = seed
            out = subprocess.run([sys.executable, __file__, "--_child", name], env=env, capture_output=True,
                                 text=True, check=True).stdout
            runs.append(json.loads(out))
        differ = sum(1 for key in runs[0] if runs[0][key] != runs[1][key])
        print(f"   two processes (PYTHONHASHSEED 1, 2): {differ} of {len(runs[0])} pair scores differ"
              + (f", largest change {max(abs(runs[0][k] - runs[1][k]) for k in runs[0]):.3f}" if differ else ""))
        t = time.perf_counter()
        big = detect(many, skeleton)
        seconds = time.perf_counter() - t
        sep = separation(big, lambda pair: origin[pair[0]] == origin[pair[1]])
        print(f"   {args.students} students ({len(big)} pairs): {seconds:.2f} s; lowest copy {sep['lowest_copy']:.3f}, "
              f"highest independent {sep['highest_independent']:.3f}, gap {sep['gap']:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
