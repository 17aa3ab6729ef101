"""Automatic points (the report question left out) of issue 22's cheats, graded with the small rubric.

    .venv/bin/python bench/cheat_scores.py [CHECKOUT]

CHECKOUT (default: this one) is the tree whose tests/ build the cheats and whose skeleton is the
empty package; run it with PYTHONPATH=CHECKOUT to grade with that tree's grader. Each cheat must
score no more than the honest package beside it: zeros and the replay no more than the empty
skeleton, the loss that recognises the gradient check no more than honest zero gradients.
"""
import sys
import tempfile
from pathlib import Path

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "tests"))
import corpus  # noqa: E402 - from root/tests, put on the path above
import numpy as np  # noqa: E402
import test_corpus_cheating as t  # noqa: E402
from conftest import SMALL_RUBRIC  # noqa: E402

from grader import api  # noqa: E402

rubric = api.load_rubric(SMALL_RUBRIC)
tmp = Path(tempfile.mkdtemp())


def pts(name, sources, extra=None):
    folder = corpus.write_submission(tmp / name, sources)
    if extra:
        extra(folder)
    r = api.grade(folder, rubric)
    print(f"{name:28s} {sum(q.auto_points for q in r.questions if q.id != 'report'):6.3f}", flush=True)


pts("zeros", t.ZEROS)
pts("empty (skeleton)", {m: (root / "skeleton" / "lab2" / f"{m}.py").read_text() for m in corpus.MODULES})
pts("replay", t._replay_sources(), lambda f: np.savez(f / "lab2" / "answers.npz", **t._replay_table()))
pts("zero-gradients honest", t._zero_gradients(False))
pts("zero-gradients recognising", t._zero_gradients(True))
