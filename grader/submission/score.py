"""Score one submission as the rubric reads: from the run's records to a ``Report``.

The rules, in the order they apply:
1. A question's automatic points are split between its check groups by the registry's weights
   (``lab2check.questions``), then equally between the graded cases of a group. Only hidden
   cases, trainings and REPORT.md earn points (``_graded``): the kit ships the public cases'
   answers, so a public case is judged and shown, and teaches.
2. Passes that prove nothing are taken back before any point is given: a pass on a case that
   cannot tell the mistake named on the other cases of its check (``_without_blind_passes``),
   a finite-only pass of a function that returned one constant (``_without_lone_finite_passes``),
   and own-loss credit where the loss and forward were right (``_own_loss_only_where_wrong``).
   A right value computed by modifying an argument in place keeps ``tolerances.purity_share``
   less (``lab2check.checks``, already in each case's outcome).
3. Each training that returned is judged here (``grader.submission.training.judge``), once the
   unit checks named any model built another way.
4. A question's status: manual, passed, partial (some points), else the worst way its failed
   requests ended (not implemented, timeout, crashed, error) or failed. An import that failed
   costs every question needing the module; every module failing makes the row's status.
5. The ``report`` question (REPORT.md's loss_500 block) and the manual questions (Q3.1's figure
   is located for the teacher).
Every number here is computed in the grader's process, from plain arrays only.
"""
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from grader.answers.cache import Answers
from grader.results import CheckResult, QuestionResult, QuestionStatus, Report, RowStatus
from grader.rubric import Rubric
from grader.submission import figure, report_md, training
from grader.submission.locate import Submission
from grader.submission.run import TRAINING_LABEL, Checked, SubmissionRun, Trained, differentiated_right
from lab2check import checks, questions
from lab2check.compare import Outcome

# The statuses a question that earned nothing takes from its failed requests, the first found wins.
WORST_FIRST = (QuestionStatus.NOT_IMPLEMENTED, QuestionStatus.TIMEOUT, QuestionStatus.CRASHED, QuestionStatus.ERROR)


def _graded(c: Checked) -> bool:
    """Whether a check earns points: hidden cases, trainings, REPORT.md. A public case teaches:
    the kit ships its answer, so a package that looks its inputs up there would pass it with no
    code; it is judged and shown, and its share is the hidden cases' of its check."""
    return c.case is None or c.hidden


def _without_blind_passes(checked: dict[str, list[Checked]], answers: Answers) -> None:
    """A pass on a case that cannot tell the mistake named on the other cases of its check
    (public and hidden together) earns nothing (``checks.without_blind_passes``)."""
    for judged in checked.values():
        units = [c for c in judged if c.case is not None]
        if not units:
            continue
        settled = checks.without_blind_passes([c.case for c in units], [c.outcome for c in units], answers.variants)
        for c, outcome in zip(units, settled):
            c.outcome = outcome


def _without_lone_finite_passes(checked: dict[str, list[Checked]]) -> None:
    """A finite-only case (confidently wrong predictions, whose loss depends on the student's
    eps) is passed by any positive constant: its pass counts only where the function did not
    return one value on every graded case of its check (a loss that sums, or scales, keeps it)."""
    for judged in checked.values():
        units = [c for c in judged if c.case is not None and _graded(c)]
        for check in {c.check for c in units}:
            group = [c for c in units if c.check == check]
            values = [c.returned for c in group if c.returned is not None]
            if len(group) < 2 or len(values) < len(group) or \
                    not all(np.array_equal(np.ravel(v), np.ravel(values[0])) for v in values):
                continue
            for c in group:
                case = c.case
                if case is not None and c.outcome.passed and case.options.get("finite_only"):
                    c.outcome = Outcome.fail(f"{case.call}: finite, but your function returned this same "
                                             "value on every case of this check: a constant earns nothing")


def _own_loss_only_where_wrong(checked: dict[str, list[Checked]]) -> None:
    """Take back own-loss credit where the student's loss and forward passed all their checks.

    The credit exists so that a wrong loss is charged once, in its own question; the loss values
    it is based on come from the student's process. Where that loss and forward are right, the
    centred differences are the reference's gradient, so a gradient matching "its own loss" there
    can only come from values that are not the loss: no credit.
    """
    for q in questions.QUESTIONS.values():
        if not differentiated_right(q.differentiates, lambda other: checked.get(other, [])):
            continue
        for c in checked.get(q.id, []):
            if c.outcome.own_loss:
                c.outcome = checks.without_own_loss_credit(c.outcome)


def _named_in_unit_checks(module: str, checked: dict[str, list[Checked]]) -> set[str]:
    """The catalogue ids the unit checks of ``module`` named (every question about it, public
    and hidden cases; not its trainings' checks)."""
    named: set[str] = set()
    for q in questions.QUESTIONS.values():
        if q.module == module and q.cases is not None:
            named.update(c.outcome.mistake for c in checked.get(q.id, [])
                         if c.label != TRAINING_LABEL and c.outcome.mistake)
    return named


def _judge_trainings(trainings: dict[str, Trained], checked: dict[str, list[Checked]],
                     seconds: dict[str, float]) -> tuple[dict[str, list], dict[str, float]]:
    """Judge each training that returned, once every unit check is in: a model variant those
    checks named (``grader.submission.trusted_model.VARIANTS``) is judged besides the lab's model
    (``training.judge``), in registry order (a stable order). Its checks join ``checked``.
    Returns ``(recorded losses, true final losses)`` per question (the curves, the reproduced losses)."""
    losses, final_losses = {}, {}
    for qid in questions.training_questions():
        if qid not in trainings:
            continue
        start = time.monotonic()
        t = trainings[qid]
        judged, recorded, true_loss = training.judge(t.task, t.outputs, t.types, t.predicted,
                                                     named=_named_in_unit_checks(t.task.module, checked))
        if recorded is not None:
            losses[qid] = recorded
        if true_loss is not None and np.isfinite(true_loss):
            final_losses[qid] = true_loss
        for name, outcome in judged:
            checked.setdefault(qid, []).append(Checked(name, TRAINING_LABEL, False, outcome))
        seconds[qid] = seconds.get(qid, 0.0) + time.monotonic() - start
    return losses, final_losses


def question(qid: str, rubric: Rubric, checked: list[Checked], seconds: float) -> QuestionResult:
    """The points, status and summary of question ``qid`` from its judged checks."""
    spec = rubric.questions[qid]
    q = QuestionResult.of_rubric(qid, spec, round(seconds, 3))
    weights = questions.get(qid).weights
    total_weight = sum(weights.values()) or 1
    per_group: dict[str, list[Checked]] = {}
    for c in checked:
        if _graded(c):
            per_group.setdefault(c.check, []).append(c)
    # A pass taken back because its case cannot tell the mistake named on the others is listed
    # after every real finding: it is never the first thing a student reads.
    checked = sorted(checked, key=lambda c: c.outcome.blind)
    for c in checked:
        share = spec.auto * weights.get(c.check, 0) / total_weight / len(per_group[c.check]) if _graded(c) else 0.0
        points = share * (1.0 if c.outcome.passed else c.outcome.credit)
        # 9 digits, not 6: QuestionResult.auto_points rounds the sum to 6, and shares like 1/21
        # each rounded to 6 digits summed to 0.999999 instead of 1 for a perfect question.
        q.checks.append(CheckResult(f"{c.check}: {c.label}", c.outcome.passed, round(points, 9), round(share, 9),
                                    "" if c.outcome.passed and not c.outcome.message else c.outcome.message,
                                    c.hidden, c.outcome.mistake, list(c.outcome.also)))
    failed = [c for c in checked if not c.outcome.passed]
    if spec.auto == 0:
        q.status, q.summary = QuestionStatus.MANUAL, "graded by hand"
    elif not failed:
        q.status, q.summary = QuestionStatus.PASSED, "all checks passed"
    elif q.auto_points > 0:
        q.status = QuestionStatus.PARTIAL
    else:
        statuses = [c.ended for c in failed]
        q.status = next((k for k in WORST_FIRST if k in statuses), QuestionStatus.FAILED)
    if failed:
        hidden = sum(1 for c in failed if c.hidden)
        extra = f"{hidden} hidden check{'s' if hidden > 1 else ''} failed" if hidden else ""
        first = checks.first_line(qid, [c.outcome for c in failed if not c.hidden])
        q.summary = "; ".join(s for s in (first, extra) if s)
    return q


def blocked_question(qid: str, rubric: Rubric, reason: tuple[QuestionStatus, str]) -> QuestionResult:
    """A question whose module did not import: every check group fails with the import's message."""
    status, message = reason
    weights = questions.get(qid).weights or {"import": 1}
    checked = [Checked(name, "import", False, Outcome.fail(message), status) for name in weights]
    q = question(qid, rubric, checked, 0.0)
    q.status = status if status in (QuestionStatus.TIMEOUT, QuestionStatus.CRASHED) else QuestionStatus.ERROR
    q.summary = f"{qid}: {message}"
    return q


def manual_question(qid: str, rubric: Rubric, sub: Submission) -> QuestionResult:
    """A question graded by hand only; for a figure (q3_1), its summary tells the teacher where
    the figure seems to be."""
    q = question(qid, rubric, [], 0.0)
    if not questions.get(qid).figure:
        return q
    text = report_md.read(sub.report) if sub.report else ""
    found = report_md.find_figure(sub.root, text)
    shown = figure.showable(sub.root) if sub.root is not None and Path(sub.root).is_dir() else None
    if shown:   # name the image the feedback shows (grader.submission.figure.keep copies this one)
        first = report_md.image_files(Path(sub.root))[0]
        also = f" (also {report_md.cut(first)}, which cannot be shown inline)" if first != shown[0] else ""
        found = f"image file {report_md.cut(shown[0])}{also}"
    q.summary = f"figure for the teacher: {found}" if found else "no figure found: look in REPORT.md"
    return q


def report_question(rubric: Rubric, sub: Submission, report: Report) -> QuestionResult:
    """The ``report`` point, shared among the three models: each value of REPORT.md's loss_500
    block that is there, not the template's 0.0 and not negative earns its third. A ``nan`` or
    ``inf`` counts: the student saw a run diverge and said so. Sets ``report.reported_losses``."""
    outcomes = {}
    models = questions.reported_models()
    if sub.report is None:
        outcomes = dict.fromkeys(models, Outcome.fail("no REPORT.md in the submission"))
    else:
        text = report_md.read(sub.report)
        losses, why = report_md.parse_loss_500(text)
        if losses is None:
            outcomes = dict.fromkeys(models, Outcome.fail(f"REPORT.md: the loss_500 block does not parse: {why}"))
        else:
            report.reported_losses = losses
            for model in models:
                value = losses.get(model)
                if value is None:
                    outcomes[model] = Outcome.fail(f"REPORT.md: loss_500 has no value for {model}")
                elif value == 0:
                    outcomes[model] = Outcome.fail(f"REPORT.md: loss_500 still holds the template's 0.0 for {model}: "
                                                   "write its loss after 500 epochs")
                elif value < 0:
                    outcomes[model] = Outcome.fail(f"REPORT.md: loss_500 gives {model} a negative loss ({value:g}): a "
                                                   "cross-entropy is never below 0")
                else:
                    outcomes[model] = Outcome(True)
    checked = [Checked("loss_500", f"REPORT.md: {model}", False, outcome) for model, outcome in outcomes.items()]
    return question("report", rubric, checked, 0.0)


def score(ran: SubmissionRun, rubric: Rubric, answers: Answers, sub: Submission, report: Report) -> None:
    """Fill ``report`` (its questions, curves, losses and row status) from ``ran``, by the rules
    above. ``ran`` is left as it is: its checks are copied before any pass is taken back."""
    checked = {qid: [replace(c) for c in r.checked] for qid, r in ran.questions.items() if r.checked}
    seconds = {qid: r.seconds for qid, r in ran.questions.items()}
    _without_blind_passes(checked, answers)
    _without_lone_finite_passes(checked)
    _own_loss_only_where_wrong(checked)
    trainings = {qid: r.trained for qid, r in ran.questions.items() if r.trained is not None}
    losses, final_losses = _judge_trainings(trainings, checked, seconds)
    for qid in rubric.questions:
        kind = questions.get(qid).kind
        if kind == "report":
            report.questions.append(report_question(rubric, sub, report))
        elif kind == "manual":
            report.questions.append(manual_question(qid, rubric, sub))
        elif why := ran.questions[qid].blocked:
            report.questions.append(blocked_question(qid, rubric, why))
        else:
            # Unit checks first, training checks after: a stable order whatever ran where.
            ordered = sorted(checked.get(qid, []), key=lambda c: c.label == TRAINING_LABEL)
            report.questions.append(question(qid, rubric, ordered, seconds.get(qid, 0.0)))
            report.questions[-1].printed = ran.questions[qid].printed
    report.grading_examples = rubric.data.train_subset
    for model, qid in questions.reported_models().items():
        report.curves[model] = {"student": losses.get(qid) or [], "reference": answers.training[qid].losses}
        report.reproduced_losses[model] = final_losses.get(qid)
        report.full_data_losses[model] = rubric.model(model).full_data_loss
    failed_imports = {m: v for m, v in ran.imports.items() if v}
    if failed_imports and len(failed_imports) == len(questions.modules()):
        statuses = {status for status, _ in failed_imports.values()}
        report.status = RowStatus.TIMEOUT if statuses == {QuestionStatus.TIMEOUT} else RowStatus.IMPORT_ERROR
