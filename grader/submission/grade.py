"""Grade one submission: sandboxed runs of the student's code -> checks -> a ``Report``.

The stages, in order, and why:
1. ``imports``: import each ``lab2`` module alone, with its own time limit, so that a module
   that trains for minutes at import (or hangs in ``input()``) is reported as such and costs
   only the questions that need it.
2. ``unit`` questions: every public and hidden case of each question, compared with the
   reference's cached answers (``grader/answers/reference_answers.py``), diagnosed (``lab2check``).
3. ``training`` questions: the student's ``train`` from the reference's initial parameters on
   the grading subset, then ``predict`` on the test subset: trajectory, 500-epoch loss, accuracy.
4. the ``report`` question: REPORT.md's ``loss_500`` block.
Training runs in one child and the public unit checks in another, side by side, when
``concurrency`` is 2: each child gets a fixed list of tasks in a fixed order, so scores never
depend on timing. The hidden cases run last, once both are closed, in a child of their own
whose printed output is never kept: nothing a hidden case shows (its inputs, kept in module
state or in a file) can reach a later request's printed output, the only student text that
reaches the feedback. Scores are computed here, in the parent, from plain arrays only.
"""
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.answers import reference_answers
from grader.results import CheckResult, QuestionResult, QuestionStatus, Report, RowStatus
from grader.sandbox import Child, sandbox_status
from grader.submission import figure, locate, report_md, training
from lab2check import cases as cases_mod
from lab2check import checks, gradcheck, questions


@dataclass
class _Checked:
    """One graded case or training check before points are given."""
    check: str
    label: str
    hidden: bool
    outcome: checks.Outcome
    status: QuestionStatus = QuestionStatus.FAILED  # when not passed: failed, not-implemented, timeout...
    case: object = None  # the unit case (lab2check.cases.Case) it judged; None for a training check
    returned: object = None  # a small "out" the case's call returned (<= 16 values), for _without_lone_finite_passes


@dataclass
class _Run:
    """What one child produced: results per question, the import verdicts, the curves."""
    checked: dict = field(default_factory=dict)     # qid -> [_Checked]
    seconds: dict = field(default_factory=dict)     # qid -> float
    imports: dict = field(default_factory=dict)     # module -> None (fine) or (status, message)
    losses: dict = field(default_factory=dict)      # qid -> list of the student's losses
    final_losses: dict = field(default_factory=dict)  # qid -> loss of the returned parameters (grader's)
    printed: dict = field(default_factory=dict)     # qid -> [what public requests printed]
    # qid -> (Task, outputs, types, predict Result) of a training that returned: judged once
    # every unit check is (_judge_trainings), since a model built another way counts there.
    trainings: dict = field(default_factory=dict)
    usage: dict | None = None                       # the child's Child.usage once it is closed


def _status(result) -> QuestionStatus:
    """A failed case's status from how its request ended (a bad output counts as an error)."""
    if result.status == "ok":
        return QuestionStatus.FAILED
    if checks.not_implemented(result):
        return QuestionStatus.NOT_IMPLEMENTED
    ended = {"timeout": QuestionStatus.TIMEOUT, "crashed": QuestionStatus.CRASHED}
    return ended.get(result.status, QuestionStatus.ERROR)


def _import_all(child, modules, limits, run: _Run):
    """Import each module alone; a module that fails stays failed for this submission."""
    for mod in modules:
        if mod in run.imports:
            continue
        result = child.request("import", {}, {"modules": [mod]}, timeout=limits.import_seconds)
        if result.status == "ok":
            run.imports[mod] = None
        elif result.status == "timeout":
            run.imports[mod] = (QuestionStatus.TIMEOUT,
                                f"importing lab2.{mod} took more than {limits.import_seconds:g} s: put "
                                'your experiments under `if __name__ == "__main__":`')
        elif result.status == "error":
            err = result.error or {}
            msg = err.get("message", f"importing lab2.{mod} failed")
            if "EOFError" in msg or "input" in (err.get("traceback") or ""):
                msg += ' (input() at import: put interactive code under `if __name__ == "__main__":`)'
            run.imports[mod] = (QuestionStatus.ERROR, msg)
        else:
            run.imports[mod] = (QuestionStatus.CRASHED, f"importing lab2.{mod} ended the process: {result.note}")


def _modules(qid) -> tuple:
    """The lab2 modules question ``qid`` needs: its own, and the one holding its loss."""
    return questions.get(qid).modules


def _blocked(qid, run):
    """The import failure that stops question ``qid``, or None."""
    for mod in _modules(qid):
        if run.imports.get(mod):
            return run.imports[mod]
    return None


def _case_bounds(answers, case) -> dict:
    """What a unit answer may hold: 16 times the largest expected output per array (a wrong
    broadcast or transpose still comes back to be diagnosed), 48 times the expected outputs in
    all (init_params answers three sets); nothing near the sandbox's 64 MB frames."""
    sizes = [int(np.size(v)) for v in answers.unit.get(case.id, {}).values()] or [0]
    return {"max_elements": 16 * max(sizes + [256]), "max_bytes": 8 * 48 * sum(sizes) + (1 << 20)}


def _differentiated_right(sources, judged_of) -> bool:
    """Whether the loss and forward pass a gradient check differentiates (``sources``: (question,
    check) pairs) were judged and passed every one of their checks; ``judged_of(q)``: the checked
    cases of question ``q`` so far."""
    for q, check in sources:
        judged = [c for c in judged_of(q) if c.check == check]
        if not judged or not all(c.outcome.passed for c in judged):
            return False
    return bool(sources)


def _sources_right(qid, run: _Run, done: dict) -> bool:
    """``_differentiated_right`` for ``qid`` while its cases run (``done``: those judged so far in
    this phase; ``run.checked``: every case judged before)."""
    return _differentiated_right(questions.get(qid).differentiates,
                                 lambda q: list(run.checked.get(q, [])) + (list(done.values()) if q == qid else []))


def _mixed_request(case) -> tuple[dict, object]:
    """A gradient check's arrays with the point mixed in among its perturbed sets
    (``gradcheck.mixed``), and the order to take the values back in."""
    names = [k.split(".", 1)[1] for k in case.arrays if k.startswith("perturbed.")]
    point = {n: case.arrays[n] if n in case.arrays else case.arrays[f"params.{n}"] for n in names}
    stacks, order = gradcheck.mixed({n: case.arrays[f"perturbed.{n}"] for n in names}, point,
                                    gradcheck.key_of(case.id, case.arrays))
    return {**case.arrays, **{f"perturbed.{n}": v for n, v in stacks.items()}}, order


def _unmix(result, order, loss_elsewhere) -> None:
    """The child's loss values put back in ``perturb``'s order (``losses``), those at the point
    apart (``losses_at_point``), and the loss the backward case of the same inputs returned
    (``loss_elsewhere``): the evidence ``checks`` weighs before any own-loss credit."""
    losses = result.outputs.get("losses")
    if losses is not None and losses.size == order.size:
        result.outputs["losses"], result.outputs["losses_at_point"] = gradcheck.unmixed(losses, order)
    elif losses is not None:
        del result.outputs["losses"]  # not one value per set sent: no own-loss comparison
    if loss_elsewhere is not None:
        result.outputs["loss_elsewhere"] = loss_elsewhere


def _run_unit(child, qid, cases, answers, tol, limits, run: _Run, keep_printed=True, used=0.0):
    """Judge ``cases`` of ``qid`` in ``child`` into ``run`` within what is left of the question's
    ``call_seconds`` (``used``: spent in an earlier phase); what the requests printed is kept
    for the feedback only when ``keep_printed`` (never for hidden cases)."""
    start = time.monotonic()
    deadline = start + limits.call_seconds - used
    done, chain_losses = {}, {}
    # Gradient checks last: by then the question's own forward cases are judged, and where the
    # loss and forward are right the child is not asked for loss values at all (charged once).
    for i in sorted(range(len(cases)), key=lambda j: cases[j].probe == "numgrad"):
        case = cases[i]
        left = deadline - time.monotonic()
        if left <= 0:
            done[i] = _Checked(case.check, case.label, case.hidden,
                               checks.Outcome(False, f"{case.call}: not run: the question's time limit of "
                                                     f"{limits.call_seconds:g} s was used up", None, 0.0),
                               QuestionStatus.TIMEOUT, case)
            continue
        options, arrays, order = case.options, case.arrays, None
        if case.probe == "numgrad" and _sources_right(qid, run, done):
            options = {**options, "losses": False}
        elif case.probe == "numgrad":
            arrays, order = _mixed_request(case)
        result = child.request(case.probe, arrays, options, timeout=left, **_case_bounds(answers, case))
        if order is not None and result.status == "ok":
            _unmix(result, order, chain_losses.get(case.label))
        if case.probe == "chain" and result.status == "ok" and "loss" in result.outputs:
            chain_losses[case.label] = result.outputs["loss"]
        if result.status == "timeout":
            result.note = f"{case.call} did not return within the question's {limits.call_seconds:g} s"
        if keep_printed and not case.hidden and result.output_tail.strip():
            run.printed.setdefault(qid, []).append(result.output_tail)
        outcome = checks.evaluate(case, result, answers.unit[case.id], answers.variants.get(case.id), tol)
        out = result.outputs.get("out") if result.status == "ok" else None
        done[i] = _Checked(case.check, case.label, case.hidden, outcome, _status(result), case,
                           out if out is not None and out.size <= 16 else None)
    run.checked.setdefault(qid, []).extend(done[i] for i in range(len(cases)))
    run.seconds[qid] = run.seconds.get(qid, 0.0) + time.monotonic() - start


def _training_task(qid, rubric, answers, data: dict) -> training.Task:
    """What judging ``qid``'s training needs; ``data``: the train request's data files, host paths."""
    q = questions.get(qid)
    ref = answers.training[qid]
    spec = rubric.model(q.training.model)
    return training.Task(qid, q.module, ref["init"], data, answers.labels[qid], ref["losses"],
                         ref["accuracy"], rubric.training.epochs, rubric.training.trajectory_epochs,
                         rubric.training.trajectory_rtol, spec.max_loss, spec.min_test_accuracy,
                         f"{q.module}.train(X, y, ..., epochs={rubric.training.epochs}, lr={spec.lr:g})",
                         variants=ref.get("variants", {}),
                         watch=(rubric.training.diverge_factor, rubric.training.diverge_window))


def _answer_bounds(task: training.Task, rubric) -> dict:
    """What a training answer may hold: the parameters, ``epochs + 1`` losses, a prediction per
    test example, a few flags; anything larger is refused before it is parsed."""
    largest = max([int(np.prod(s)) for s in task.shapes.values()] + [rubric.training.epochs + 1,
                                                                    rubric.data.test_subset])
    total = sum(int(np.prod(s)) for s in task.shapes.values()) + rubric.training.epochs + 1 + rubric.data.test_subset
    return {"max_elements": 2 * largest, "max_bytes": 16 * 2 * total + (1 << 20)}


def _run_training(child, qid, rubric, answers, limits, run: _Run):
    start = time.monotonic()
    arrays, options = reference_answers.train_request(qid, rubric, answers.data, answers.training[qid]["init"])
    task = _training_task(qid, rubric, answers, options["data"])
    # A new dict: the task keeps the host's paths, the child gets the sandbox's.
    options["data"] = {k: child.sandbox_path(v) for k, v in options["data"].items()}
    result = child.request("train", arrays, options, timeout=limits.wall_factor * limits.train_seconds,
                           cpu_seconds=limits.train_seconds, **_answer_bounds(task, rubric))
    names = ["trajectory", "final_loss", "accuracy"]
    if result.output_tail.strip():
        run.printed.setdefault(qid, []).append(result.output_tail)
    if result.status != "ok":
        if result.status == "timeout":
            result.note = (f"{task.call} did not finish within {limits.train_seconds:g} s of CPU time (the reference "
                           f"takes a few seconds: is the training loop vectorised?); {result.note}")
        outcome = checks.failure(result)
        same = checks.Outcome(False, "(the training did not return: see above)", None, 0.0)
        run.checked.setdefault(qid, []).extend(_Checked(n, "grading subset", False, outcome if i == 0 else same,
                                                        _status(result)) for i, n in enumerate(names))
    else:
        predicted = None
        params = training.trained_params(task, result.outputs, result.types)
        if params is not None:
            predict_options = {"module": task.module, "data": {"X_test": options["data"]["X_test"]}}
            predicted = child.request("predict", params, predict_options,
                                      timeout=limits.wall_factor * limits.call_seconds, cpu_seconds=limits.call_seconds,
                                      max_elements=4 * rubric.data.test_subset,
                                      max_bytes=64 * rubric.data.test_subset + (1 << 20))
        run.trainings[qid] = (task, result.outputs, result.types, predicted)
    run.seconds[qid] = run.seconds.get(qid, 0.0) + time.monotonic() - start


def _named_in_unit_checks(module: str, checked: dict) -> set:
    """The catalogue ids the unit checks of ``module`` named (every question about it, public
    and hidden cases; not its trainings' checks)."""
    named = set()
    for q in questions.QUESTIONS.values():
        if q.module == module and q.cases is not None:
            named.update(c.outcome.mistake for c in checked.get(q.id, [])
                         if c.label != "grading subset" and c.outcome.mistake)
    return named


def _judge_trainings(run: _Run) -> None:
    """Judge each training that returned, in the grader, once the unit checks of both children
    are in: a model variant those checks named (``grader.submission.trusted_model.VARIANTS``) is judged besides
    the lab's model (``training.judge``), in registry order (a stable order)."""
    for qid in questions.training_questions():
        if qid not in run.trainings:
            continue
        start = time.monotonic()
        task, outputs, types, predicted = run.trainings[qid]
        checked, recorded, true_loss = training.judge(task, outputs, types, predicted,
                                                      named=_named_in_unit_checks(task.module, run.checked))
        if recorded is not None:
            run.losses[qid] = recorded
        if true_loss is not None and np.isfinite(true_loss):
            run.final_losses[qid] = true_loss
        for name, outcome in checked:
            run.checked.setdefault(qid, []).append(_Checked(name, "grading subset", False, outcome))
        run.seconds[qid] = run.seconds.get(qid, 0.0) + time.monotonic() - start


def _worker(folder, binds, rubric, answers, slot, tasks, run: _Run, errors: list):
    """Run ``tasks`` (("unit"|"train", qid, cases)) in one child, in order."""
    try:
        with Child(folder, rubric.limits, binds=binds, slot=slot) as child:
            tol = rubric.tolerances
            for task, qid, cases in tasks:
                _import_all(child, _modules(qid), rubric.limits, run)
                if _blocked(qid, run):
                    continue
                if task == "unit":
                    _run_unit(child, qid, cases, answers, tol, rubric.limits, run)
                else:
                    _run_training(child, qid, rubric, answers, rubric.limits, run)
        run.usage = child.usage
    except Exception as err:  # noqa: BLE001 - reported as the grader's own failure, never the student's
        errors.append(f"{type(err).__name__}: {err}")


def _hidden_worker(folder, binds, rubric, answers, slot, merged: _Run, errors: list):
    """The hidden cases of every unit question, judged into ``merged`` (the other children's
    results: the gradient checks read the loss and forward verdicts), in a child of their own
    started once every other child has ended, nothing of it printed anywhere: whatever student
    code keeps of a hidden input (module state, a file in its /tmp) ends with this child.
    Returns the child's usage."""
    scratch = _Run()  # its import verdicts and usage: the public child's verdicts are the ones reported
    try:
        with Child(folder, rubric.limits, binds=binds, slot=slot) as child:
            for qid in questions.unit_questions():
                if _blocked(qid, merged):
                    continue
                _import_all(child, _modules(qid), rubric.limits, scratch)  # timed apart, as in the public child
                _run_unit(child, qid, cases_mod.cases(qid, tuple(rubric.hidden.seeds), hidden=True), answers,
                          rubric.tolerances, rubric.limits, merged, keep_printed=False,
                          used=merged.seconds.get(qid, 0.0))
        return child.usage
    except Exception as err:  # noqa: BLE001 - reported as the grader's own failure, never the student's
        errors.append(f"{type(err).__name__}: {err}")
        return None


def _tasks(rubric):
    """Two fixed task lists of about equal cost (``questions.Training.cost``): the public unit
    checks start the second; each training, the costliest first, goes to the list that costs less so
    far (the first on a tie). The lists depend on the registry only, never on timing: with
    today's questions, multiclass and the bonus in one child, the unit checks, hidden_layer and
    single_neuron in the other. The hidden cases are ``_hidden_worker``'s."""
    unit = [("unit", qid, cases_mod.cases(qid)) for qid in questions.unit_questions()]
    lists, costs = ([], unit), [0.0, questions.UNIT_CHECKS_COST if unit else 0.0]
    trainings = questions.training_questions()
    for qid in sorted(trainings, key=lambda q: -questions.get(q).training.cost):  # stable: registry order on a tie
        i = 0 if costs[0] <= costs[1] else 1
        lists[i].append(("train", qid, None))
        costs[i] += questions.get(qid).training.cost
    return lists


def _without_blind_passes(checked: dict, answers) -> None:
    """A pass on a case that cannot tell the mistake named on the other cases of its check
    (public and hidden together) earns nothing (``checks.without_blind_passes``)."""
    for judged in checked.values():
        units = [c for c in judged if c.case is not None]
        if not units:
            continue
        settled = checks.without_blind_passes([c.case for c in units], [c.outcome for c in units], answers.variants)
        for c, outcome in zip(units, settled):
            c.outcome = outcome


def _without_lone_finite_passes(checked: dict) -> None:
    """A finite-only case (confidently wrong predictions, whose loss depends on the student's
    eps) is passed by any positive constant: its pass counts only where the function did not
    return one value on every graded case of its check (a loss that sums, or scales, keeps it)."""
    for judged in checked.values():
        units = [c for c in judged if c.case is not None and _graded(c)]
        for check in {c.check for c in units}:
            group = [c for c in units if c.check == check]
            values = [c.returned for c in group]
            if len(group) < 2 or any(v is None for v in values) or \
                    not all(np.array_equal(np.ravel(v), np.ravel(values[0])) for v in values):
                continue
            for c in group:
                if c.outcome.passed and c.case.options.get("finite_only"):
                    c.outcome = checks.Outcome(False, f"{c.case.call}: finite, but your function returned this same "
                                                      "value on every case of this check: a constant earns nothing",
                                               None, 0.0)


def _own_loss_only_where_wrong(checked: dict) -> None:
    """Take back own-loss credit where the student's loss and forward passed all their checks.

    The credit exists so that a wrong loss is charged once, in its own question; the loss values
    it is based on come from the student's process. Where that loss and forward are right, the
    centred differences are the reference's gradient, so a gradient matching "its own loss" there
    can only come from values that are not the loss: no credit.
    """
    for q in questions.QUESTIONS.values():
        if not _differentiated_right(q.differentiates, lambda other: checked.get(other, [])):
            continue
        for c in checked.get(q.id, []):
            if c.outcome.own_loss:
                c.outcome = checks.without_own_loss_credit(c.outcome)


PRINTED_CHARS = 4000  # of a question's printed output kept in the report: its head and its tail


def _bounded_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters not kept ...]\n{text[-half:]}"


def _graded(c: _Checked) -> bool:
    """Whether a check earns points: hidden cases, trainings, REPORT.md. A public case teaches:
    the kit ships its answer, so a package that looks its inputs up there would pass it with no
    code; it is judged and shown, and its share is the hidden cases' of its check."""
    return c.case is None or c.hidden


def _question(qid, rubric, checked: list, seconds: float) -> QuestionResult:
    spec = rubric.questions[qid]
    q = QuestionResult.of_rubric(qid, spec, round(seconds, 3))
    weights = questions.get(qid).weights
    total_weight = sum(weights.values()) or 1
    per_group = {}
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
        statuses = [c.status for c in failed]
        worst = (QuestionStatus.NOT_IMPLEMENTED, QuestionStatus.TIMEOUT, QuestionStatus.CRASHED, QuestionStatus.ERROR)
        q.status = next((k for k in worst if k in statuses), QuestionStatus.FAILED)
    if failed:
        hidden = sum(1 for c in failed if c.hidden)
        extra = f"{hidden} hidden check{'s' if hidden > 1 else ''} failed" if hidden else ""
        first = checks.first_line(qid, [c.outcome for c in failed if not c.hidden])
        q.summary = "; ".join(s for s in (first, extra) if s)
    return q



def _blocked_question(qid, rubric, reason) -> QuestionResult:
    status, message = reason
    weights = questions.get(qid).weights or {"import": 1}
    checked = [_Checked(name, "import", False, checks.Outcome(False, message, None, 0.0), status) for name in weights]
    q = _question(qid, rubric, checked, 0.0)
    q.status = status if status in (QuestionStatus.TIMEOUT, QuestionStatus.CRASHED) else QuestionStatus.ERROR
    q.summary = f"{qid}: {message}"
    return q


def _manual_question(qid, rubric, sub) -> QuestionResult:
    """A question graded by hand only; for a figure (q3_1), its summary tells the teacher where
    the figure seems to be."""
    q = _question(qid, rubric, [], 0.0)
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


def _report_question(rubric, sub, report: Report) -> QuestionResult:
    """The ``report`` point, shared among the three models: each value of REPORT.md's loss_500
    block that is there, not the template's 0.0 and not negative earns its third. A ``nan`` or
    ``inf`` counts: the student saw a run diverge and said so."""
    def failed(message):
        return checks.Outcome(False, message, None, 0.0)

    outcomes = {}
    models = questions.reported_models()
    if sub.report is None:
        outcomes = dict.fromkeys(models, failed("no REPORT.md in the submission"))
    else:
        text = report_md.read(sub.report)
        losses, why = report_md.parse_loss_500(text)
        if losses is None:
            outcomes = dict.fromkeys(models, failed(f"REPORT.md: the loss_500 block does not parse: {why}"))
        else:
            report.reported_losses = losses
            for model in models:
                value = losses.get(model)
                if value is None:
                    outcomes[model] = failed(f"REPORT.md: loss_500 has no value for {model}")
                elif value == 0:
                    outcomes[model] = failed(f"REPORT.md: loss_500 still holds the template's 0.0 for {model}: write "
                                             "its loss after 500 epochs")
                elif value < 0:
                    outcomes[model] = failed(f"REPORT.md: loss_500 gives {model} a negative loss ({value:g}): a "
                                             "cross-entropy is never below 0")
                else:
                    outcomes[model] = checks.Outcome(True)
    checked = [_Checked("loss_500", f"REPORT.md: {model}", False, outcome) for model, outcome in outcomes.items()]
    return _question("report", rubric, checked, 0.0)


def grade_folder(root, rubric, answers=None, *, student=None, submission=None, concurrency=2,
                 slots=(None, None)) -> Report:
    """Grade the submission unpacked in ``root`` (``lab2/`` anywhere beneath it)."""
    start = time.monotonic()
    root = Path(root)
    sub = locate.find_package(root)  # PackageError (a UsageError) when there is no single lab2/
    answers = answers or reference_answers.load(rubric)
    report = Report(student=student or root.name, submission=submission or str(root),
                    sandbox=sandbox_status()[1], total_max=rubric.total, rubric_sha256=rubric.sha256)
    data_dir = Path(answers.data["X_train"]).parent
    binds = {data_dir: data_dir}
    first, second = _tasks(rubric)
    runs, errors = [_Run(), _Run()], []
    if concurrency >= 2:
        threads = [threading.Thread(target=_worker, args=(sub.package_parent, binds, rubric, answers, slots[i], tasks,
                                                          runs[i], errors))
                   for i, tasks in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        _worker(sub.package_parent, binds, rubric, answers, slots[0], second + first, runs[0], errors)
    if errors:
        report.status, report.error = "internal-error", errors[0]
        report.seconds = round(time.monotonic() - start, 3)
        return report
    report.usage = [r.usage for r in runs if r.usage]
    merged = _Run()
    for r in runs:
        for qid, c in r.checked.items():
            merged.checked.setdefault(qid, []).extend(c)
        for qid, s in r.seconds.items():
            merged.seconds[qid] = merged.seconds.get(qid, 0.0) + s
        merged.imports.update({k: v for k, v in r.imports.items() if v or k not in merged.imports})
        merged.losses.update(r.losses)
        merged.final_losses.update(r.final_losses)
        for qid, parts in r.printed.items():
            merged.printed.setdefault(qid, []).extend(parts)
        merged.trainings.update(r.trainings)
    hidden_usage = _hidden_worker(sub.package_parent, binds, rubric, answers, slots[0], merged, errors)
    if errors:
        report.status, report.error = "internal-error", errors[0]
        report.seconds = round(time.monotonic() - start, 3)
        return report
    report.usage.append(hidden_usage)
    _without_blind_passes(merged.checked, answers)
    _without_lone_finite_passes(merged.checked)
    _own_loss_only_where_wrong(merged.checked)
    _judge_trainings(merged)
    for qid in rubric.questions:
        kind = questions.get(qid).kind
        if kind == "report":
            report.questions.append(_report_question(rubric, sub, report))
        elif kind == "manual":
            report.questions.append(_manual_question(qid, rubric, sub))
        elif _blocked(qid, merged):
            report.questions.append(_blocked_question(qid, rubric, _blocked(qid, merged)))
        else:
            # Unit checks first, training checks after: a stable order whatever ran where.
            ordered = sorted(merged.checked.get(qid, []), key=lambda c: c.label == "grading subset")
            report.questions.append(_question(qid, rubric, ordered, merged.seconds.get(qid, 0.0)))
            report.questions[-1].printed = _bounded_text("\n".join(merged.printed.get(qid, [])), PRINTED_CHARS)
    report.grading_examples = rubric.data.train_subset
    for model, qid in questions.reported_models().items():
        student_losses = merged.losses.get(qid)
        report.curves[model] = {"student": student_losses or [], "reference": answers.training[qid]["losses"]}
        report.reproduced_losses[model] = merged.final_losses.get(qid)
        report.full_data_losses[model] = rubric.model(model).full_data_loss
    failed_imports = [m for m, v in merged.imports.items() if v]
    if failed_imports and len(failed_imports) == len(questions.modules()):
        statuses = {merged.imports[m][0] for m in failed_imports}
        report.status = RowStatus.TIMEOUT if statuses == {QuestionStatus.TIMEOUT} else RowStatus.IMPORT_ERROR
    report.seconds = round(time.monotonic() - start, 3)
    return report
