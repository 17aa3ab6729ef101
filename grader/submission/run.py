"""Run one submission's code in sandboxed children: one record per question of what came back.

The children, in order, and why:
1. ``imports``: each ``lab2`` module is imported alone, with its own time limit, so that a module
   that trains for minutes at import (or hangs in ``input()``) is reported as such and costs
   only the questions that need it.
2. the public ``unit`` cases and the trainings, in two children side by side when
   ``concurrency`` is 2: each child gets a fixed list of tasks in a fixed order (``tasks``), so
   what is asked never depends on timing.
3. the hidden cases, last, once both are closed, in a child of their own whose printed output is
   never kept: nothing a hidden case shows (its inputs, kept in module state or in a file) can
   reach a later request's printed output, the only student text that reaches the feedback.

Each unit case is compared with the reference's cached answer as it comes back
(``lab2check.checks.evaluate``, in this process, from plain arrays): a gradient check asks the
child for loss values only where the loss and forward it differentiates were not judged right.
A training that returned is kept as it came back (``Trained``) and judged by ``score``, once
every unit check is in. Nothing here gives points: that is ``grader.submission.score``.
"""
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from grader.answers import requests
from grader.answers.cache import Answers
from grader.results import QuestionStatus
from grader.rubric import Limits, Rubric
from grader.sandbox import Child
from grader.submission import training
from lab2check import cases as cases_mod
from lab2check import checks, gradcheck, questions
from lab2check.cases import Case
from lab2check.compare import Outcome
from lab2check.result import Result, Status

PRINTED_CHARS = 4000  # of a question's printed output kept in the report: its head and its tail
TRAINING_LABEL = "grading subset"  # the label of a training's checks (its three: trajectory, final_loss, accuracy)

# An import verdict: None (the module imported), else (status, message).
ImportVerdict = tuple[QuestionStatus, str] | None


@dataclass
class Checked:
    """One judged case or training check, before points are given."""
    check: str
    label: str
    hidden: bool
    outcome: Outcome
    ended: QuestionStatus = QuestionStatus.FAILED  # how its request ended when not passed (failed: it returned)
    case: Case | None = None  # the unit case it judged; None for a training or REPORT.md check
    returned: np.ndarray | None = None  # a small "out" the case's call returned (<= 16 values), else None


@dataclass
class Trained:
    """A training that returned, as it came back: judged by ``score`` once every unit check is in
    (a model built another way, named by the unit checks, counts there)."""
    task: training.Task
    outputs: dict[str, np.ndarray]   # the train probe's plain arrays (bounded: ``_answer_bounds``)
    types: dict[str, str]            # what each returned value was
    predicted: Result | None         # the student's predict on the returned parameters, or None


@dataclass
class QuestionRun:
    """Everything running one question produced: its judged cases (public then hidden) and the
    checks of a training that did not return, the training that did, what its public requests
    printed (bounded), the time its requests took, and the import failure that stopped it."""
    qid: str
    checked: list[Checked] = field(default_factory=list)
    trained: Trained | None = None
    printed: str = ""
    seconds: float = 0.0
    blocked: tuple[QuestionStatus, str] | None = None


@dataclass
class SubmissionRun:
    """One submission's run: a ``QuestionRun`` per question that has code (registry order), the
    import verdict of each module, each child's usage in the order they ran, or the grader's own
    failure (``error``, one line: never the student's zero)."""
    questions: dict[str, QuestionRun] = field(default_factory=dict)
    imports: dict[str, ImportVerdict] = field(default_factory=dict)
    usage: list[dict] = field(default_factory=list)
    error: str = ""


@dataclass
class _ChildRun:
    """What one child produced, before the children's results are merged."""
    checked: dict[str, list[Checked]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    imports: dict[str, ImportVerdict] = field(default_factory=dict)
    printed: dict[str, list[str]] = field(default_factory=dict)   # qid -> what public requests printed
    trainings: dict[str, Trained] = field(default_factory=dict)
    usage: dict | None = None                                     # the child's Child.usage once it is closed


# A task of a child's list: ("unit", qid, its public cases) or ("train", qid, None).
Task = tuple[str, str, list[Case] | None]


def ended(result: Result) -> QuestionStatus:
    """A failed case's status from how its request ended (a bad output counts as an error)."""
    if result.status is Status.OK:
        return QuestionStatus.FAILED
    if checks.not_implemented(result):
        return QuestionStatus.NOT_IMPLEMENTED
    statuses = {Status.TIMEOUT: QuestionStatus.TIMEOUT, Status.CRASHED: QuestionStatus.CRASHED}
    return statuses.get(result.status, QuestionStatus.ERROR)


def _import_all(child: Child, modules: tuple[str, ...], limits: Limits, run: _ChildRun) -> None:
    """Import each module alone; a module that fails stays failed for this submission."""
    for mod in modules:
        if mod in run.imports:
            continue
        result = child.request("import", {}, {"modules": [mod]}, timeout=limits.import_seconds)
        if result.status is Status.OK:
            run.imports[mod] = None
        elif result.status is Status.TIMEOUT:
            run.imports[mod] = (QuestionStatus.TIMEOUT,
                                f"importing lab2.{mod} took more than {limits.import_seconds:g} s: put "
                                'your experiments under `if __name__ == "__main__":`')
        elif result.status is Status.ERROR:
            err = result.error or {}
            msg = err.get("message", f"importing lab2.{mod} failed")
            if "EOFError" in msg or "input" in (err.get("traceback") or ""):
                msg += ' (input() at import: put interactive code under `if __name__ == "__main__":`)'
            run.imports[mod] = (QuestionStatus.ERROR, msg)
        else:
            run.imports[mod] = (QuestionStatus.CRASHED, f"importing lab2.{mod} ended the process: {result.note}")


def _modules(qid: str) -> tuple[str, ...]:
    """The lab2 modules question ``qid`` needs: its own, and the one holding its loss."""
    return questions.get(qid).modules


def blocked(qid: str, imports: dict[str, ImportVerdict]) -> tuple[QuestionStatus, str] | None:
    """The import failure that stops question ``qid``, or None."""
    for mod in _modules(qid):
        if imports.get(mod):
            return imports[mod]
    return None


def _case_bounds(answers: Answers, case: Case) -> dict:
    """What a unit answer may hold: 16 times the largest expected output per array (a wrong
    broadcast or transpose still comes back to be diagnosed), 48 times the expected outputs in
    all (init_params answers three sets); nothing near the sandbox's 64 MB frames."""
    sizes = [int(np.size(v)) for v in answers.unit.get(case.id, {}).values()] or [0]
    return {"max_elements": 16 * max(sizes + [256]), "max_bytes": 8 * 48 * sum(sizes) + (1 << 20)}


def differentiated_right(sources: tuple[tuple[str, str], ...], judged_of: Callable[[str], list[Checked]]) -> bool:
    """Whether the loss and forward pass a gradient check differentiates (``sources``: (question,
    check) pairs) were judged and passed every one of their checks; ``judged_of(q)``: the checked
    cases of question ``q`` so far. Read while running (what a gradient check asks) and while
    scoring (``score``'s own-loss rule)."""
    for q, check in sources:
        judged = [c for c in judged_of(q) if c.check == check]
        if not judged or not all(c.outcome.passed for c in judged):
            return False
    return bool(sources)


def _sources_right(qid: str, run: _ChildRun, done: dict[int, Checked]) -> bool:
    """``differentiated_right`` for ``qid`` while its cases run (``done``: those judged so far in
    this phase; ``run.checked``: every case judged before)."""
    return differentiated_right(questions.get(qid).differentiates,
                                lambda q: list(run.checked.get(q, [])) + (list(done.values()) if q == qid else []))


def _mixed_request(case: Case) -> tuple[dict, np.ndarray]:
    """A gradient check's arrays with the point mixed in among its perturbed sets
    (``gradcheck.mixed``), and the order to take the values back in."""
    names = [k.split(".", 1)[1] for k in case.arrays if k.startswith("perturbed.")]
    point = {n: case.arrays[n] if n in case.arrays else case.arrays[f"params.{n}"] for n in names}
    stacks, order = gradcheck.mixed({n: case.arrays[f"perturbed.{n}"] for n in names}, point,
                                    gradcheck.key_of(case.id, case.arrays))
    return {**case.arrays, **{f"perturbed.{n}": v for n, v in stacks.items()}}, order


def _unmix(result: Result, order: np.ndarray, loss_elsewhere: np.ndarray | None) -> None:
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


def _run_unit(child: Child, qid: str, cases: list[Case], answers: Answers, tol: checks.Tolerances, limits: Limits,
              run: _ChildRun, keep_printed: bool = True, used: float = 0.0) -> None:
    """Judge ``cases`` of ``qid`` in ``child`` into ``run`` within what is left of the question's
    ``call_seconds`` (``used``: spent in an earlier phase); what the requests printed is kept
    for the feedback only when ``keep_printed`` (never for hidden cases)."""
    start = time.monotonic()
    deadline = start + limits.call_seconds - used
    done: dict[int, Checked] = {}
    chain_losses: dict[str, np.ndarray] = {}
    # Gradient checks last: by then the question's own forward cases are judged, and where the
    # loss and forward are right the child is not asked for loss values at all (charged once).
    for i in sorted(range(len(cases)), key=lambda j: cases[j].probe == "numgrad"):
        case = cases[i]
        left = deadline - time.monotonic()
        if left <= 0:
            done[i] = Checked(case.check, case.label, case.hidden,
                              Outcome.fail(f"{case.call}: not run: the question's time limit of "
                                           f"{limits.call_seconds:g} s was used up"),
                              QuestionStatus.TIMEOUT, case)
            continue
        options, arrays, order = case.options, case.arrays, None
        if case.probe == "numgrad" and _sources_right(qid, run, done):
            options = {**options, "losses": False}
        elif case.probe == "numgrad":
            arrays, order = _mixed_request(case)
        result = child.request(case.probe, arrays, options, timeout=left, **_case_bounds(answers, case))
        if order is not None and result.status is Status.OK:
            _unmix(result, order, chain_losses.get(case.label))
        if case.probe == "chain" and result.status is Status.OK and "loss" in result.outputs:
            chain_losses[case.label] = result.outputs["loss"]
        if result.status is Status.TIMEOUT:
            result.note = f"{case.call} did not return within the question's {limits.call_seconds:g} s"
        if keep_printed and not case.hidden and result.output_tail.strip():
            run.printed.setdefault(qid, []).append(result.output_tail)
        outcome = checks.evaluate(case, result, answers.unit[case.id], answers.variants.get(case.id), tol)
        out = result.outputs.get("out") if result.status is Status.OK else None
        done[i] = Checked(case.check, case.label, case.hidden, outcome, ended(result), case,
                          out if out is not None and out.size <= 16 else None)
    run.checked.setdefault(qid, []).extend(done[i] for i in range(len(cases)))
    run.seconds[qid] = run.seconds.get(qid, 0.0) + time.monotonic() - start


def _answer_bounds(task: training.Task, rubric: Rubric) -> dict:
    """What a training answer may hold: the parameters, ``epochs + 1`` losses, a prediction per
    test example, a few flags; anything larger is refused before it is parsed."""
    largest = max([int(np.prod(s)) for s in task.shapes.values()] + [rubric.training.epochs + 1,
                                                                    rubric.data.test_subset])
    total = sum(int(np.prod(s)) for s in task.shapes.values()) + rubric.training.epochs + 1 + rubric.data.test_subset
    return {"max_elements": 2 * largest, "max_bytes": 16 * 2 * total + (1 << 20)}


def _run_training(child: Child, qid: str, rubric: Rubric, answers: Answers, limits: Limits, run: _ChildRun) -> None:
    start = time.monotonic()
    reference = answers.training[qid]
    arrays, options = requests.train_request(qid, rubric, answers.data, reference.init)
    task = training.Task.of_question(qid, rubric, reference, options["data"], answers.labels[qid])
    # A new dict: the task keeps the host's paths, the child gets the sandbox's.
    options["data"] = {k: child.sandbox_path(v) for k, v in options["data"].items()}
    result = child.request("train", arrays, options, timeout=limits.wall_factor * limits.train_seconds,
                           cpu_seconds=limits.train_seconds, **_answer_bounds(task, rubric))
    if result.output_tail.strip():
        run.printed.setdefault(qid, []).append(result.output_tail)
    if result.status is not Status.OK:
        if result.status is Status.TIMEOUT:
            result.note = (f"{task.call} did not finish within {limits.train_seconds:g} s of CPU time (the reference "
                           f"takes a few seconds: is the training loop vectorised?); {result.note}")
        outcome = checks.failure(result)
        same = Outcome.fail("(the training did not return: see above)")
        run.checked.setdefault(qid, []).extend(Checked(n, TRAINING_LABEL, False, outcome if i == 0 else same,
                                                       ended(result)) for i, n in enumerate(training.CHECKS))
    else:
        predicted = None
        params = training.trained_params(task, result.outputs, result.types)
        if params is not None:
            predict_options = {"module": task.module, "data": {"X_test": options["data"]["X_test"]}}
            predicted = child.request("predict", params, predict_options,
                                      timeout=limits.wall_factor * limits.call_seconds, cpu_seconds=limits.call_seconds,
                                      max_elements=4 * rubric.data.test_subset,
                                      max_bytes=64 * rubric.data.test_subset + (1 << 20))
        run.trainings[qid] = Trained(task, result.outputs, result.types, predicted)
    run.seconds[qid] = run.seconds.get(qid, 0.0) + time.monotonic() - start


def _worker(folder: Path, binds: dict, rubric: Rubric, answers: Answers, slot: int | None, tasks: list[Task],
            run: _ChildRun, errors: list[str]) -> None:
    """Run ``tasks`` in one child, in order."""
    try:
        with Child(folder, rubric.limits, binds=binds, slot=slot) as child:
            tol = rubric.tolerances
            for _, qid, cases in tasks:
                _import_all(child, _modules(qid), rubric.limits, run)
                if blocked(qid, run.imports):
                    continue
                if cases is not None:  # a unit task carries its cases, a training task none
                    _run_unit(child, qid, cases, answers, tol, rubric.limits, run)
                else:
                    _run_training(child, qid, rubric, answers, rubric.limits, run)
        run.usage = child.usage
    except Exception as err:  # noqa: BLE001 - reported as the grader's own failure, never the student's
        errors.append(f"{type(err).__name__}: {err}")


def _hidden_worker(folder: Path, binds: dict, rubric: Rubric, answers: Answers, slot: int | None, merged: _ChildRun,
                   errors: list[str]) -> dict | None:
    """The hidden cases of every unit question, judged into ``merged`` (the other children's
    results: the gradient checks read the loss and forward verdicts), in a child of their own
    started once every other child has ended, nothing of it printed anywhere: whatever student
    code keeps of a hidden input (module state, a file in its /tmp) ends with this child.
    Returns the child's usage."""
    scratch = _ChildRun()  # its import verdicts and usage: the public child's verdicts are the ones reported
    try:
        with Child(folder, rubric.limits, binds=binds, slot=slot) as child:
            for qid in questions.unit_questions():
                if blocked(qid, merged.imports):
                    continue
                _import_all(child, _modules(qid), rubric.limits, scratch)  # timed apart, as in the public child
                _run_unit(child, qid, cases_mod.cases(qid, tuple(rubric.hidden.seeds), hidden=True), answers,
                          rubric.tolerances, rubric.limits, merged, keep_printed=False,
                          used=merged.seconds.get(qid, 0.0))
        return child.usage
    except Exception as err:  # noqa: BLE001 - reported as the grader's own failure, never the student's
        errors.append(f"{type(err).__name__}: {err}")
        return None


def tasks(rubric: Rubric) -> tuple[list[Task], list[Task]]:
    """Two fixed task lists of about equal cost (``questions.Training.cost``): the public unit
    checks start the second; each training, the costliest first, goes to the list that costs less so
    far (the first on a tie). The lists depend on the registry only, never on timing: with
    today's questions, multiclass and the bonus in one child, the unit checks, hidden_layer and
    single_neuron in the other. The hidden cases are ``_hidden_worker``'s."""
    unit = [("unit", qid, cases_mod.cases(qid)) for qid in questions.unit_questions()]
    lists: tuple[list[Task], list[Task]] = ([], list(unit))
    costs = [0.0, questions.UNIT_CHECKS_COST if unit else 0.0]
    cost = {qid: _training_cost(qid) for qid in questions.training_questions()}
    for qid in sorted(cost, key=lambda q: -cost[q]):  # stable: registry order on a tie
        i = 0 if costs[0] <= costs[1] else 1
        lists[i].append(("train", qid, None))
        costs[i] += cost[qid]
    return lists


def _training_cost(qid: str) -> float:
    training = questions.get(qid).training
    assert training is not None, f"{qid} is not a training question"
    return training.cost


def _merged(runs: list[_ChildRun]) -> _ChildRun:
    """The children's results together, in the order of their task lists; an import that failed
    in either child failed."""
    merged = _ChildRun()
    for r in runs:
        for qid, c in r.checked.items():
            merged.checked.setdefault(qid, []).extend(c)
        for qid, s in r.seconds.items():
            merged.seconds[qid] = merged.seconds.get(qid, 0.0) + s
        merged.imports.update({k: v for k, v in r.imports.items() if v or k not in merged.imports})
        for qid, parts in r.printed.items():
            merged.printed.setdefault(qid, []).extend(parts)
        merged.trainings.update(r.trainings)
    return merged


def _bounded_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters not kept ...]\n{text[-half:]}"


def _records(merged: _ChildRun) -> dict[str, QuestionRun]:
    """One ``QuestionRun`` per question with code, in registry order."""
    return {q.id: QuestionRun(q.id, list(merged.checked.get(q.id, [])), merged.trainings.get(q.id),
                              _bounded_text("\n".join(merged.printed.get(q.id, [])), PRINTED_CHARS),
                              merged.seconds.get(q.id, 0.0), blocked(q.id, merged.imports))
            for q in questions.QUESTIONS.values() if q.module is not None}


def run(package_parent: Path, rubric: Rubric, answers: Answers, *, concurrency: int = 2,
        slots: tuple = (None, None)) -> SubmissionRun:
    """Run the submission whose ``lab2/`` is in ``package_parent``: its public cases and trainings
    (two children side by side when ``concurrency`` >= 2, else one with both lists), then its
    hidden cases. ``slots``: the sandbox slots of the two children (the hidden one uses the first)."""
    data_dir = Path(answers.data["X_train"]).parent
    binds = {data_dir: data_dir}
    first, second = tasks(rubric)
    runs = [_ChildRun(), _ChildRun()]
    errors: list[str] = []
    if concurrency >= 2:
        threads = [threading.Thread(target=_worker, args=(package_parent, binds, rubric, answers, slots[i], tasks_,
                                                          runs[i], errors))
                   for i, tasks_ in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        _worker(package_parent, binds, rubric, answers, slots[0], second + first, runs[0], errors)
    if errors:
        return SubmissionRun(error=errors[0])
    usage = [r.usage for r in runs if r.usage]
    merged = _merged(runs)
    hidden_usage = _hidden_worker(package_parent, binds, rubric, answers, slots[0], merged, errors)
    if errors or hidden_usage is None:  # None only with an error
        return SubmissionRun(usage=usage, error=errors[0])
    return SubmissionRun(_records(merged), merged.imports, usage + [hidden_usage])
