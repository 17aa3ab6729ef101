"""Every scripted mistake costs exactly the questions it should, and is named (issue 6, corpus 2).

One test per entry of ``grader.answers.mutations.MUTATIONS``: the reference with that one edit (and a
REPORT.md) is graded with the small rubric. The questions that lose automatic points must be
exactly ``mutation.affects``: a question missing from the set is a check that does not see the
bug, an extra one is a mistake charged twice. A catalogue mistake must be named as
``[mistake:<id>]`` in a public check of an affected question, and nothing may be diagnosed as
a mistake the submission does not make.
"""
import pytest
from builders import corpus

from grader.answers import mutations

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("mutation", mutations.MUTATIONS, ids=lambda m: m.name)
def test_a_mutant_loses_points_exactly_where_it_should(mutation, corpus_dir, grade_small, reference_report):
    report = grade_small(corpus.build_mutant(mutation, corpus_dir / "mutants" / mutation.name))
    assert report.status == "graded", corpus.explain(report)
    assert corpus.lost(report) == set(mutation.affects), corpus.explain(report, corpus.lost(report) | mutation.affects)

    # Outside the affected questions: the reference's points, status and summary.
    for q in report.questions:
        if q.id not in mutation.affects:
            r = reference_report.question(q.id)
            assert (q.auto_points, q.status, q.summary) == (r.auto_points, r.status, r.summary), \
                corpus.explain(report, {q.id})

    named = {m for q in report.questions for c in q.checks for m in c.ids}
    if mutation.mistake is None:
        assert named == set(), f"a bug outside the catalogue was diagnosed as {named}"
        return
    assert named == {mutation.mistake}, f"diagnosed {named}, expected only {mutation.mistake}"
    tag = f"[mistake:{mutation.mistake}]"
    public = [c for qid in sorted(mutation.affects) for c in report.question(qid).checks
              if not c.hidden and not c.passed and c.mistake == mutation.mistake and tag in c.message]
    assert public, f"no public check of {sorted(mutation.affects)} says {tag}:\n" + corpus.explain(report)
