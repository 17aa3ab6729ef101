"""Realistic student implementations get the points a teacher finds fair, and the right ids (issue 12).

Each student of ``tests/realistic.py`` is graded end to end with the small rubric. Every
automatic question must get the reviewed points within 0.05 (the reasoning is written beside
each student), and the feedback must name exactly the student's catalogue ids, each in a
public check's message.
"""
import pytest
from builders import corpus, realistic

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("student", realistic.STUDENTS, ids=lambda s: s.name)
def test_a_realistic_student_gets_the_fair_points_and_ids(student, corpus_dir, grade_small):
    report = grade_small(student.build(corpus_dir / "realistic" / student.name))
    assert report.status == "graded", corpus.explain(report)
    unknown = set(student.points) - {q.id for q in report.questions}
    assert not unknown, f"the expectation names unknown questions {unknown}"
    for q in report.questions:
        if not q.max_auto:
            continue
        fair = student.points.get(q.id, q.max_auto)
        assert abs(q.auto_points - fair) <= 0.05, \
            f"{q.id}: {q.auto_points:.3f} points, fair is {fair:.3f}\n" + corpus.explain(report, {q.id})

    for qid, check, text in student.says:
        messages = [c.message for c in report.question(qid).checks if c.name.startswith(f"{check}:")]
        assert any(text in m for m in messages), f"{qid} {check} does not say {text!r}: {messages}"

    named = {m for q in report.questions for c in q.checks for m in c.ids}  # every id, the independent ones too
    assert named == set(student.ids), corpus.explain(report, corpus.lost(report))
    for mistake in student.ids:
        tag = f"[mistake:{mistake}]"
        assert any(tag in c.message for q in report.questions for c in q.checks if not c.hidden), \
            f"no public message says {tag}:\n" + corpus.explain(report)


def test_the_students_differ_from_the_base_and_from_the_reference():
    """A student equal to the base (or the base equal to the reference) would prove nothing."""
    sources = [s.sources() for s in realistic.STUDENTS]
    assert len({tuple(sorted(s.items())) for s in sources}) == len(sources)
    for module, text in realistic.BASE.items():
        assert text != corpus.reference_source(module)
