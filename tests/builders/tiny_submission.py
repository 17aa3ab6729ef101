"""A tiny ``lab2`` package for driving ``grader.sandbox.Child`` directly, and what the sandbox
tests ask of it.

``write_submission`` puts the code under test in ``lab2/single_neuron.py`` (at import or in
``sigmoid``) beside a harmless ``lab2/good.py``; ``HOSTILE`` and ``GOOD`` are the requests to each,
``Z`` their input, ``recovers`` checks that the next request on the same child works, ``trying``
writes code that tries an action on paths. Used by tests/sandbox/test_sandbox.py,
test_limits.py, test_host_confinement.py and conftest's ``sandbox`` fixture.
"""
import textwrap

import numpy as np

from grader.rubric import Limits

LIMITS = Limits()  # the rubric's defaults: 3072 MB, 32 processes, 16 MB files, 32 KB of output
QUICK = 30.0  # the time limit of a request that is expected to answer (generous: CI may be loaded)
Z = {"z": np.array([-1.0, 0.0, 2.0])}
HOSTILE = {"module": "single_neuron", "function": "sigmoid", "args": ["z"]}
GOOD = {"module": "good", "function": "sigmoid", "args": ["z"]}


# Forks until the process limit refuses one; returns how many it made (each fork sleeps on).
FORK_BOMB = """
        forks = 0
        while True:
            try:
                pid = os.fork()
            except OSError:
                return forks
            if pid == 0:
                time.sleep(1e9)
            forks += 1
"""


def write_submission(folder, at_import="", in_call="return 1 / (1 + np.exp(-z))", extra=""):
    """A ``lab2`` package whose ``single_neuron`` runs ``at_import`` and ``in_call``."""
    lab2 = folder / "lab2"
    lab2.mkdir(parents=True)
    (lab2 / "__init__.py").write_text("")
    body = textwrap.indent(textwrap.dedent(in_call), "    ")
    (lab2 / "single_neuron.py").write_text("import json, os, sys, time\nimport numpy as np\n\n" + textwrap.dedent(extra)
                                           + "\n" + textwrap.dedent(at_import) + "\n\ndef sigmoid(z):\n" + body + "\n")
    (lab2 / "good.py").write_text("import numpy as np\n\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n")
    return folder


def recovers(child, restarted: bool):
    """The next request on the same Child works, in a new process when the last one died."""
    starts = child.starts
    response = child.request("call", Z, GOOD, QUICK)
    assert response.status == "ok", response
    np.testing.assert_allclose(response.outputs["out"], 1 / (1 + np.exp(-Z["z"])))
    assert child.starts == starts + restarted


def trying(where, paths, action):
    """Submission code that tries ``action`` on each of ``paths``: ``out`` is 1 where it worked."""
    code = textwrap.dedent(f"""
        worked = []
        for path in {[str(p) for p in paths]!r}:
            try:
                {action}
                worked.append(1)
            except OSError:
                worked.append(0)
    """)
    if where == "import":
        return {"at_import": code + "RESULT = np.array(worked)", "in_call": "return RESULT"}
    return {"in_call": code + "return np.array(worked)"}
