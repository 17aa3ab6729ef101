"""Correct variants of the reference get every automatic point (issue 6, corpus 1).

Each variant (``corpus.CORRECT``) is the reference rewritten in a way the contract allows:
float32 throughout, in-place updates, other clipping eps, a class behind the functions,
einsum, losses as numpy scalars or 0-d arrays, another sigmoid, softmax with a reshape,
(m,) predictions, a plain-float db, losses as an array. A variant losing any point is a
grader that punishes a correct student.
"""
import pytest
from builders import corpus

pytestmark = pytest.mark.timeout(300)


def assert_full_marks(report):
    assert report.status == "graded", corpus.explain(report)
    assert not corpus.lost(report), corpus.explain(report, corpus.lost(report))
    for q in report.questions:
        if q.max_auto:
            assert q.status == "passed", corpus.explain(report, {q.id})
            assert not q.mistakes, corpus.explain(report, {q.id})
    # The bonus question's automatic point too, and the total of the automatic part.
    assert report.bonus == report.question("q2_3").max_auto
    assert report.auto_total == sum(q.max_auto for q in report.questions if not q.bonus)


def test_the_reference_gets_every_automatic_point(reference_report):
    assert_full_marks(reference_report)


@pytest.mark.parametrize("name", list(corpus.CORRECT))
def test_a_correct_variant_gets_every_automatic_point(name, corpus_dir, grade_small):
    folder = corpus.build_correct(name, corpus_dir / "correct" / name)
    # The builder changed something: a variant equal to the reference would prove nothing.
    changed = [m for m in corpus.MODULES
               if (folder / "lab2" / f"{m}.py").read_text() != corpus.reference_source(m)]
    assert changed
    assert_full_marks(grade_small(folder))


# The contract asks that functions "work for float32 and float64 inputs", not for float64
# accuracy: a student who computes in float32 is off by ~1.5e-6 relative, inside rtol 1e-5.
def test_computing_float64_inputs_in_float32_gets_every_automatic_point(corpus_dir, grade_small):
    folder = corpus.write_submission(corpus_dir / "correct" / "float32-inputs", corpus.float32_inputs())
    assert_full_marks(grade_small(folder))
