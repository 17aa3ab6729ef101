"""Limits student code cannot step around, and files it cannot read (issue 22, findings 4 and 6).

- CPU time is counted by the child's cgroup and enforced by the grader: a ``SIGXCPU`` handler
  does not buy more of it;
- each child has its own share of the processors: processes forked at import, each in a session
  of its own, slow only their own submission, and die with its child;
- without bubblewrap, as root, student code cannot read the reference, the rubric or the
  cached answers, and still gets the grading data.

The arithmetic of the batch's budget and the ACL entry itself are tested without a child in
tests/unit/batch/test_time_budget.py and tests/unit/sandbox/test_hiding.py.

Like ``tests/sandbox/test_sandbox.py``, the tests of a child drive ``grader.sandbox.Child`` on a tiny
``lab2`` package (``single_neuron.sigmoid`` holds the code). Nothing here times a request
tightly: the assertions are on statuses, the cgroup's CPU counts and ratios with wide margins.
"""
import os

import numpy as np
import pytest
from builders.tiny_submission import GOOD, HOSTILE, LIMITS, QUICK, Z, trying, write_submission

from grader import PROJECT
from grader.answers import data as answers_data
from grader.sandbox import Child, cgroup, processes_of

pytestmark = pytest.mark.timeout(180)

CGROUPS = pytest.mark.skipif(not cgroup.status()[0], reason=f"no cgroup here: {cgroup.status()[1]}")
CPU_CONTROLLER = pytest.mark.skipif(not cgroup.has_cpu_controller(), reason="no cpu controller for the children")
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="without root there is no dedicated uid to hide files from")

# Spins until this process has used ``seconds`` of CPU time.
SPIN = """
    def _spin(seconds):
        start = time.process_time()
        while time.process_time() - start < seconds:
            pass
"""


# --- CPU time a process cannot ignore ------------------------------------------------------------

@pytest.mark.sandbox
@CGROUPS
def test_a_sigxcpu_handler_does_not_buy_cpu_time_past_the_limit(sandbox):
    # 6 s of CPU against a limit of 1 s, with SIGXCPU ignored: the same timeout as without the
    # handler, long before the wall-clock backstop of 120 s (without the cgroup's count it
    # returned after its 6 s, an answer with points).
    child = sandbox(in_call="""
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        _spin(6)
        return z
    """, extra=SPIN)
    child.start()
    before = child.usage["cpu_seconds"]
    response = child.request("call", Z, HOSTILE, 120.0, cpu_seconds=1)
    assert response.status == "timeout", response
    assert "used more than its 1 s of CPU time" in response.note
    assert child.usage["cpu_seconds"] - before < 4.5  # 1 s and its second of grace, not 6
    # The same code without the handler: the same status and the same words.
    plain = sandbox(in_call="_spin(6)\nreturn z", extra=SPIN).request("call", Z, HOSTILE, 120.0, cpu_seconds=1)
    assert (plain.status, "used more than its 1 s of CPU time" in plain.note) == ("timeout", True), plain


@pytest.mark.sandbox
@CGROUPS
def test_the_cpu_time_of_forked_processes_counts_against_the_request(sandbox):
    # Four forked processes spin while the request waits: the cgroup counts their CPU time too,
    # where each process's own RLIMIT_CPU counted only itself.
    child = sandbox(in_call="""
        for _ in range(4):
            if os.fork() == 0:
                os.setsid()
                _spin(1e9)
        time.sleep(100)
        return z
    """, extra=SPIN)
    response = child.request("call", Z, HOSTILE, 60.0, cpu_seconds=2)
    assert response.status == "timeout", response
    assert "used more than its 2 s of CPU time" in response.note


# --- a share of the processors for each child ------------------------------------------------------

SPINNERS = """
    PIDS = []
    for _ in range(28):
        pid = os.fork()
        if pid == 0:
            os.setsid()  # a session of its own: not killed with the child's process group
            while True:
                pass
        PIDS.append(pid)
"""


@pytest.mark.sandbox
@CGROUPS
@CPU_CONTROLLER
def test_processes_forked_at_import_share_one_childs_cpu_and_die_with_it(sandbox):
    hostile = sandbox(at_import=SPINNERS, in_call="return np.array(len(PIDS))")
    honest = sandbox(in_call="_spin(3)\nreturn z", extra=SPIN)
    honest.start()
    assert hostile.request("call", Z, HOSTILE, QUICK).outputs["out"] == 28  # 28 spinners from now on
    if hostile.uid is not None:
        assert len(processes_of(hostile.uid, zombies=False)) >= 29
    hostile_before, honest_before = hostile.usage["cpu_seconds"], honest.usage["cpu_seconds"]
    response = honest.request("call", Z, HOSTILE, 120.0)
    assert response.status == "ok", response
    hostile_cpu = hostile.usage["cpu_seconds"] - hostile_before
    honest_cpu = honest.usage["cpu_seconds"] - honest_before
    # Each child's cgroup has the same weight, whatever its number of processes: the honest
    # child gets about as much CPU as the 28 together (ratio ~1; without a CPU controller,
    # one process among 29: ~0.04).
    assert honest_cpu > 2.5 and honest_cpu / hostile_cpu > 0.3, (honest_cpu, hostile_cpu)
    hostile.close()
    if hostile.uid is not None:
        assert processes_of(hostile.uid) == []  # the sessions they started did not save them


# --- files hidden without bubblewrap -----------------------------------------------------------------

@pytest.mark.sandbox
@ROOT
@pytest.mark.parametrize("where", ["import", "call"])
def test_without_bubblewrap_the_reference_rubric_and_answers_cannot_be_read(tmp_path, small_answers, where):
    answers = answers_data.CACHE / "reference" / small_answers.key / "answers.bin"
    secrets = [PROJECT / "reference" / "lab2" / "multiclass.py", PROJECT / "rubric.yaml", answers,
               PROJECT / "grader" / "rubric.py"]
    assert all(p.is_file() for p in secrets)
    data = os.path.dirname(small_answers.data["X_train"])
    folder = tmp_path / "s"
    folder.mkdir()
    with Child(folder, LIMITS, binds={data: data}, sandbox="rlimits") as child:
        # What the child is given, to show the test can tell: its own file and the grading data
        # (through a descriptor: the data lies in the hidden cache).
        x_train = child.sandbox_path(small_answers.data["X_train"])
        assert x_train.startswith("/proc/self/fd/")
        code = trying(where, [*secrets, "lab2/good.py", x_train], "open(path, 'rb').read(1)")
        write_submission(folder, **code)
        response = child.request("call", Z, HOSTILE, QUICK)
        assert response.status == "ok", response
        assert response.outputs["out"].tolist() == [0, 0, 0, 0, 1, 1]
        (folder / "lab2" / "good.py").write_text(f"import numpy as np\n\ndef sigmoid(z):\n"
                                                 f"    return np.load({x_train!r})[:3, :5].astype(float)\n")
        read_back = child.request("call", Z, GOOD, QUICK)
    assert processes_of(child.uid) == []
    assert read_back.status == "ok", read_back
    x = np.load(small_answers.data["X_train"], mmap_mode="r")
    np.testing.assert_array_equal(read_back.outputs["out"], np.asarray(x[:3, :5], dtype=float))


