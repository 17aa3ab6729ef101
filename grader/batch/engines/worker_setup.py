"""What runs on a Dask worker before the grader can be imported there: shipped by value.

``grader.batch.engines.dask_engine`` registers this module with ``cloudpickle.register_pickle_by_value``,
so its functions travel with their code to a scheduler or worker that cannot import ``grader``.
Nothing here may import ``grader`` at module level: the scheduler may not have it, and a worker
that cannot import it must still say so (``probe``). It only uses the standard library.

Nothing here puts the checkout on ``sys.path``: ``make setup`` installs the project
into its venv (editable), and the workers must run that venv anyway (same numpy, same pins), so
they import ``grader`` from the checkout as the driver does; ``probe`` says so when one cannot.

- ``grade``: the task's entry point. The scheduler unpickles every task too, and it may not
  import ``grader``: the task is this function and plain data (the rubric as pickled bytes);
  it calls ``grader.batch.engines.dask_engine.grade_task`` on the worker.
- ``probe``: the checks ``dask_engine`` runs on every worker (``client.run``) before sending
  any archive; it returns the problems found, each one line, never raises.
"""
import os
import pickle
import sys


def _grade(task: dict, rubric: bytes, workdir: str) -> dict:
    from grader.batch.engines.dask_engine import grade_task
    return grade_task(task, pickle.loads(rubric), workdir)


# distributed pickles a task graph with plain pickle first, which would name ``_grade`` by
# reference (this module, which the scheduler may not import); a lambda cannot be pickled by
# reference, so distributed falls back to cloudpickle, which ships it and ``_grade`` by value.
grade = lambda task, rubric, workdir: _grade(task, rubric, workdir)  # noqa: E731


def probe(want: dict) -> list[str]:
    """This worker's problems against what the driver has (``want``): project, python, numpy,
    rubric and code versions, sandbox, reference answers, OUT."""
    problems = []
    project = want["project"]
    if not os.path.isdir(os.path.join(project, "grader")):
        return [f"no checkout of the grader at {project} (every worker needs the same checkout at the same path)"]
    try:
        import numpy

        from grader import DATA, PROJECT, REFERENCE, sandbox
        from grader.answers import cache as answers_cache
        from grader.answers import data as answers_data
    except Exception as err:  # noqa: BLE001 - a line for the teacher, not a traceback
        return [(f"cannot import the grader from {project} with {sys.executable}: {type(err).__name__}: {err} "
                 "(start the workers with the project's virtual environment, made by `make setup`)")]
    if str(PROJECT) != project:
        problems.append(f"imports the grader from {PROJECT}, not from {project}")
    if numpy.__version__ != want["numpy"]:
        problems.append(f"has numpy {numpy.__version__}, the driver {want['numpy']} (install requirements.txt)")
    if want["bubblewrap"]:
        try:
            kind, line = sandbox.sandbox_status()
        except Exception as err:  # noqa: BLE001
            kind, line = "none", f"{type(err).__name__}: {err}"
        if kind != "bubblewrap":
            problems.append(f"cannot sandbox with bubblewrap as the driver does ({line}): install bubblewrap")
    try:  # pickled apart from the call: unpickling it needs the grader, imported just above
        key = answers_cache.cache_key(pickle.loads(want["rubric"]))
    except Exception as err:  # noqa: BLE001
        key = f"({type(err).__name__}: {err})"
    if key != want["cache_key"]:
        problems.append("the rubric, data, reference or check code differ from the driver's (another version of "
                        "the checkout?): its grades would not be the same")
    elif not os.access(answers_data.CACHE / "reference" / key / "meta.json", os.R_OK):
        # It can build them itself (a minute or two) when the reference, the data and the cache are there.
        if not (os.access(DATA, os.R_OK) and os.access(REFERENCE, os.R_OK)):
            problems.append(f"cannot read the reference answers in {answers_data.CACHE} nor build them")
        else:
            parent = answers_data.CACHE if answers_data.CACHE.exists() else answers_data.CACHE.parent
            if not os.access(parent, os.W_OK):
                problems.append(f"has no reference answers in {answers_data.CACHE} and cannot write them there")
    if not os.path.exists(want["source"]):
        problems.append(f"does not see the submissions at {want['source']} (they must be on a file system every "
                        "worker shares, at the same path)")
    out = os.path.dirname(want["out_probe"])
    if not os.path.exists(want["out_probe"]):
        problems.append(f"does not see the output folder {out} as the driver does (OUT and the submissions must "
                        "be on a file system every worker shares, at the same path)")
    elif not os.access(out, os.W_OK):
        problems.append(f"cannot write in the output folder {out}")
    return problems
