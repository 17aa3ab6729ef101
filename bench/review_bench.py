#!/usr/bin/env python
"""The review app for a class of 1,000 students: a question page and "next", in milliseconds.

    .venv/bin/python bench/review_bench.py [--students 1000] [--reps 30]

The class is written by hand (``tests/review_class.py``: no student code runs), every other
student with a figure; q1_2's answers take about 200 distinct forms (spellings of a few right and wrong
answers, some with a word of their own), q3_1 is a figure for every other student. Measured in
process through Flask's test client (the server's own time, no network): building the view
before serving (reading 1,000 REPORT.md, grouping, the merge suggestions cold then cached), then,
``--reps`` times each, median and worst: the q1_2 and q3_1 question pages (the first group, the
largest), "next ungraded", saving a group's grade (one SQLite transaction, then the redirect's
page), the figure, and the index (progress of every question). The anchor is nbgrader's
formgrader, 4-30 s a page at 600-1,100 students (its issues #929, #785). Not a timed test.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import review_class as rc  # noqa: E402

from grader.review.app import create_app  # noqa: E402
from grader.review.grading import Review  # noqa: E402

FORMS = [r"$\hat y = \sigma(w^T x + b)$", r"$\hat{y} = \sigma\left(w^\top x + b\right)$",
         r"$\hat y = \frac{1}{1 + e^{-(w^T x + b)}}$", r"$\hat y = \sigma(w^T x - b)$", r"$\hat y = w^T x + b$",
         "y_hat = sigmoid(w.x + b)"]


def answers(n: int) -> dict[str, dict[str, str]]:
    out = {}
    for i in range(n):
        form = FORMS[i % len(FORMS)] + (f" (see note {i % 200})" if i % 3 == 0 else "")
        out[f"STUDENT{i:04d} Ann"] = {"q1_2": form, "q1_3": r"$L = -\frac{1}{m}\sum_i y_i \log \hat y_i$",
                                      "q3_1": rc.DRAWING if i % 2 else "![architecture](architecture.png)"}
    return out


def timed(fn, reps):
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), max(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="review-bench-"))
    try:
        t = time.perf_counter()
        out = rc.build(tmp / "out", answers(args.students))
        print(f"class of {args.students} written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        items = tmp / "rubric_items.yaml"
        shutil.copy(ROOT / "rubric_items.yaml", items)
        t = time.perf_counter()
        review = Review(out, rc.RUBRIC, items)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        review = Review(out, rc.RUBRIC, items)
        warm = time.perf_counter() - t
        client = create_app(review, token="t", grader_name="bench").test_client()
        client.get("/?token=t")
        csrf = client.get("/").get_data(as_text=True).split('name="csrf" value="')[1].split('"')[0]
        figure = next(review.anon[a.key] for a in review.answers["q3_1"] if a.figure)
        rows = [("build the view before serving, cold (s)", cold * 1000, cold * 1000),
                ("build the view, suggestions cached (s)", warm * 1000, warm * 1000)]
        groups = len(review.groups["q1_2"])

        def ok(url):
            def run():
                r = client.get(url)
                assert r.status_code in (200, 302), (url, r.status_code)
            return run

        def save_and_follow():
            r = client.post("/q/q1_2/0/grade", data={"csrf": csrf, "item": "correct"})
            assert r.status_code == 302
            assert client.get(r.headers["Location"]).status_code == 200

        for label, fn in ((f"q1_2 question page ({groups} groups)", ok("/q/q1_2/0")),
                          ("q3_1 question page (figure, largest group)", ok("/q/q3_1/0")),
                          ('"next ungraded" (redirect)', ok("/q/q1_2/next?from=0")),
                          ("save a group's grade + the next page", save_and_follow),
                          ("the figure", ok(f"/figure/{figure}")),
                          ("index: progress of every question", ok("/"))):
            med, worst = timed(fn, args.reps)
            rows.append((label, med, worst))
        print(f"\nreview app, {args.students} students, {args.reps} repetitions (in process, Flask test client)")
        print(f"{'what':50} {'median ms':>10} {'worst ms':>10}")
        for label, med, worst in rows:
            if label.endswith("(s)"):
                print(f"{label:50} {med / 1000:>9.1f}s {worst / 1000:>9.1f}s")
            else:
                print(f"{label:50} {med:>10.1f} {worst:>10.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
