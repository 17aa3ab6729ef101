"""The sandbox against hostile student code (issue 6's list), with bubblewrap and without.

Each hostile submission has the hostile code in ``lab2/single_neuron.py`` (at import or in
``sigmoid``) and a harmless ``lab2/good.py``: after the hostile request, a request to
``good.sigmoid`` on the same ``Child`` must work, in a fresh process when the first one died.
The ``sandbox`` fixture closes every child at the end of a test and checks that no process of
its dedicated uid is left.
"""
import json
import os
import socket
import tempfile
import textwrap
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from builders.tiny_submission import FORK_BOMB, GOOD, HOSTILE, LIMITS, QUICK, Z, recovers, trying, write_submission

from grader import PROJECT
from grader.sandbox import Child, SandboxError, processes_of, sandbox_status
from grader.sandbox.launch import _bubblewrap_works

pytestmark = pytest.mark.timeout(120)

HANG = 2.0  # the time limit of a request that is expected to hang

BWRAP = pytest.mark.skipif(not _bubblewrap_works()[0],
                           reason=f"bubblewrap does not work here: {_bubblewrap_works()[1]}")


def hostile(sandbox, where, code):
    """The hostile ``code`` at import or in the call."""
    return sandbox(**({"at_import": code} if where == "import" else {"in_call": code}))


WHERE = ["import", "call"]

# (id, code, status, what the note or the error says, whether the process had to be replaced)
CASES = [
    ("infinite-loop", "while True:\n    pass", "timeout", "no answer within 2 s", True),
    ("sleep", "time.sleep(1e9)", "timeout", "no answer within 2 s", True),
    ("numpy-50GB", "np.ones((50 * 2**30 // 8,))", "error", "memory limit of 3072 MB reached", False),
    ("bytearray-50GB", "bytearray(50 * 2**30)", "error", "memory limit of 3072 MB reached", False),
    ("fork-bomb", "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
     "timeout", "no answer within 2 s", True),
    ("sys-exit", "sys.exit(0)", "error", "SystemExit", False),
    ("os-exit", "os._exit(0)", "crashed",
     "the child process exited with code 0 (sys.exit or os._exit in student code?)", True),
    ("kill-9", "os.kill(os.getpid(), 9)", "crashed", "killed by signal 9 (SIGKILL", True),
    ("input", "input()", "error", "stdin is empty: input() cannot be answered", False),
    ("keyboard-interrupt", "raise KeyboardInterrupt", "error", "KeyboardInterrupt", False),
]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("code, status, says, restarted", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_code_costs_one_request(sandbox, where, code, status, says, restarted):
    child = hostile(sandbox, where, code)
    response = child.request("call", Z, HOSTILE, HANG)
    assert response.status == status, response
    assert says in response.note + (response.error or {}).get("message", "")
    if status == "error":
        expected_where = "importing lab2.single_neuron" if where == "import" else "single_neuron.sigmoid"
        assert response.error["where"] == expected_where
    recovers(child, restarted)


def test_a_fork_bomb_is_contained_by_the_process_limit(sandbox):
    child = sandbox(in_call=FORK_BOMB)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    # The child itself is one of the 32 processes of its uid (without a dedicated uid, the
    # limit is relative to what the user already runs).
    assert 0 < int(response.outputs["out"]) < LIMITS.processes
    if child.uid is not None:
        assert int(response.outputs["out"]) == LIMITS.processes - 1
        assert len(processes_of(child.uid)) == LIMITS.processes
    recovers(child, False)
    child.close()
    if child.uid is not None:
        assert processes_of(child.uid) == []


def test_forking_back_into_the_loop_does_not_answer_twice(sandbox):
    # The forked process returns from sigmoid into the child's loop: only the child answers.
    child = sandbox(in_call="os.fork()\nreturn z")
    for _ in range(3):
        response = child.request("call", Z, HOSTILE, QUICK)
        assert response.status == "ok", response
        assert response.note == ""
    recovers(child, False)


@pytest.mark.parametrize("where", WHERE)
def test_printing_100_MB_keeps_head_and_tail_with_bounded_memory(sandbox, where):
    flood = "sys.stdout.write('start\\n' + 'x' * (100 << 20) + '\\nend of the flood\\n')"
    child = hostile(sandbox, where, flood)
    child.start()
    tracemalloc.start()
    try:
        response = child.request("call", Z, HOSTILE, QUICK)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status == "ok", response
    assert peak < 8 << 20, f"the parent held {peak >> 20} MB"
    assert len(response.output_tail) < (LIMITS.output_kb << 10) + 200
    assert response.output_tail.startswith("start\nxxx")
    assert response.output_tail.endswith("xxx\nend of the flood\n")
    printed = len("start\n") + (100 << 20) + len("\nend of the flood\n")
    assert f"[... {printed - (LIMITS.output_kb << 10)} bytes of output not kept ...]" in response.output_tail
    recovers(child, False)


def test_output_belongs_to_the_request_that_printed_it(sandbox):
    child = sandbox(at_import="print('importing')", in_call="print('called with', z.size)\nreturn z")
    first = child.request("call", Z, HOSTILE, QUICK)
    second = child.request("call", Z, HOSTILE, QUICK)
    assert first.output_tail == "importing\ncalled with 3\n"
    assert second.output_tail == "called with 3\n"


ONLY_BWRAP = pytest.mark.parametrize("sandbox_kind", [pytest.param("bubblewrap", marks=BWRAP)])


@ONLY_BWRAP
@pytest.mark.parametrize("where", WHERE)
def test_the_project_is_not_visible_in_bubblewrap(sandbox, where):
    paths = [PROJECT / p for p in ("reference/lab2/single_neuron.py", "grader/__init__.py", "rubric.yaml", "tests")]
    assert all(p.exists() for p in paths)
    paths.append("lab2/good.py")  # what the child may see, to show the test can tell
    response = sandbox(**trying(where, paths, "os.stat(path)")).request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.outputs["out"].tolist() == [0, 0, 0, 0, 1]


@ONLY_BWRAP
def test_student_code_sees_no_grader_folder_only_the_childs_two_files(sandbox):
    # From inside a graded function: the mounts, every file and folder (but in /usr, /proc, /dev),
    # and an attempt to import the grader. Of the grader, only the child's script and the
    # protocol it imports are there; lab2check (the kit's library) beside them.
    child = sandbox(in_call="""
        mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
        seen = set()
        for root, dirs, files in os.walk("/"):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/dev", "/usr", "/sys")]
            seen.update(os.path.join(root, name) for name in dirs + files)
        try:
            import grader
            imported = "grader imported from " + str(getattr(grader, "__path__", grader))
        except ImportError as err:
            imported = type(err).__name__
        print(json.dumps({"mounts": mounts, "imported": imported, "count": len(seen),
                          "grader": sorted(p for p in seen if "grader" in p.split("/")),
                          "sandbox": sorted(p for p in seen if p.startswith("/sandbox/"))}))
        return z
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    seen = json.loads(response.output_tail)
    assert "/sandbox/bin/child.py" in seen["mounts"] and seen["count"] > 1000  # the probe did look
    assert seen["grader"] == [] and seen["imported"] == "ModuleNotFoundError"
    library = {f"/sandbox/lib/lab2check/{p.name}" for p in (PROJECT / "lab2check").glob("*.py")}
    assert library <= set(seen["sandbox"])
    others = {p for p in seen["sandbox"] if not p.startswith("/sandbox/lib/lab2check/__pycache__")} - library
    assert others == {"/sandbox/bin", "/sandbox/bin/child.py", "/sandbox/bin/protocol.py", "/sandbox/lib",
                      "/sandbox/lib/lab2check"}, others


@pytest.mark.parametrize("where", WHERE)
def test_another_submission_cannot_be_read(tmp_path, sandbox, where):
    other = tmp_path / "other_student" / "lab2"
    other.mkdir(parents=True)
    (other / "single_neuron.py").write_text("SECRET = 'the answers'\n")
    paths = [other / "single_neuron.py", "../other_student/lab2/single_neuron.py", "lab2/good.py"]
    response = sandbox(**trying(where, paths, "open(path).read()")).request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.outputs["out"].tolist() == [0, 0, 1]


@pytest.mark.parametrize("where", WHERE)
def test_files_outside_cannot_be_written(tmp_path, sandbox, where):
    canary = tmp_path / "out" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text("canary\n")
    before = canary.stat().st_mtime_ns
    paths = [canary, tmp_path / "out" / "new.txt", "lab2/planted.py", "__HOME__/scratch.txt"]
    action = "open(path.replace('__HOME__', os.environ['HOME']), 'w').write('pwned')"
    response = sandbox(**trying(where, paths, action)).request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.outputs["out"].tolist() == [0, 0, 0, 1]  # only the private home is writable
    assert canary.read_text() == "canary\n" and canary.stat().st_mtime_ns == before
    assert not (tmp_path / "out" / "new.txt").exists()
    assert not any(tmp_path.glob("submission*/lab2/planted.py"))


def test_a_file_larger_than_the_limit_fails_without_killing_the_child(sandbox):
    child = sandbox(in_call="open(os.environ['HOME'] + '/big', 'wb').write(bytes(17 << 20))")
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "error", response
    assert response.note == "file size limit of 16 MB reached"
    recovers(child, False)


@ONLY_BWRAP
@pytest.mark.parametrize("where", WHERE)
def test_there_is_no_network_in_bubblewrap(sandbox, where):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=1)"
        response = hostile(sandbox, where, code).request("call", Z, HOSTILE, QUICK)
        assert response.status == "error", response
        assert response.error["type"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_a_subprocess_may_run_within_the_process_limit(sandbox):
    child = sandbox(in_call="import subprocess\nreturn subprocess.run(['/bin/echo', 'hi']).returncode")
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert int(response.outputs["out"]) == 0 and response.output_tail == "hi\n"


def test_monkey_patching_numpy_and_builtins_stays_in_the_child(sandbox):
    child = sandbox(at_import="""
        import builtins
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        builtins.abs = lambda x: 0
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert not np.allclose(1.0, 2.0) and not np.array_equal([1], [2]) and abs(-1) == 1
    recovers(child, False)


def test_a_patched_protocol_is_bad_output(sandbox):
    # Student code may corrupt the child's own code: the parent checks what it reads.
    child = sandbox(in_call="""
        json.dumps = lambda *a, **k: '{"id": 999, "status": "ok", "types": {}, "arrays": []}'
        return z
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "bad-output"
    assert "answered request 999" in response.note
    recovers(child, True)


FORGED = {
    "a frame of 1 TB": "os.write(fd, (1 << 40).to_bytes(8, 'big'))",
    "garbage": "os.write(fd, (5).to_bytes(8, 'big') + b'{{{{{')",
    "a huge shape": """
        head = json.dumps({"id": 1, "status": "ok", "types": {"out": "x"}, "arrays": ["out"]}).encode()
        npy = b"\\x93NUMPY\\x01\\x00" + (118).to_bytes(2, "little")
        npy += ("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }".ljust(117) + "\\n").encode()
        npy += bytes(16)
        os.write(fd, len(head).to_bytes(8, 'big') + head + len(npy).to_bytes(8, 'big') + npy)
    """,
    "an empty array with a dimension numpy refuses": """
        head = json.dumps({"id": 1, "status": "ok", "types": {"out": "x"}, "arrays": ["out"]}).encode()
        npy = b"\\x93NUMPY\\x01\\x00" + (118).to_bytes(2, "little")
        shape = "(0, 1180591620717411303424)"   # 2**70: no element, but no numpy array has it
        npy += ("{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }").ljust(117).encode() + b"\\n"
        os.write(fd, len(head).to_bytes(8, 'big') + head + len(npy).to_bytes(8, 'big') + npy)
    """,
    "an object array": """
        head = json.dumps({"id": 1, "status": "ok", "types": {"out": "x"}, "arrays": ["out"]}).encode()
        npy = b"\\x93NUMPY\\x01\\x00" + (118).to_bytes(2, "little")
        npy += ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\\n").encode()
        npy += bytes(8)
        os.write(fd, len(head).to_bytes(8, 'big') + head + len(npy).to_bytes(8, 'big') + npy)
    """,
}


# The answer pipe, found as student code would: the write-only pipe that is not stdout (the
# child's configuration, which names it, is read from a pipe that is closed by then).
FIND_ANSWER_PIPE = """
import fcntl, stat
def _answer_pipe():
    for name in os.listdir("/proc/self/fd"):
        try:
            info, flags = os.fstat(int(name)), fcntl.fcntl(int(name), fcntl.F_GETFL)
        except OSError:
            continue
        if (int(name) > 2 and stat.S_ISFIFO(info.st_mode) and info.st_ino != os.fstat(1).st_ino
                and flags & os.O_ACCMODE == os.O_WRONLY):
            return int(name)
"""


@pytest.mark.parametrize("forgery", FORGED.values(), ids=FORGED.keys())
def test_forged_answers_are_bad_output_without_allocation(sandbox, forgery):
    child = sandbox(extra=FIND_ANSWER_PIPE, in_call="fd = _answer_pipe()\n" + textwrap.dedent(forgery)
                    + "\ntime.sleep(1e9)")
    child.start()
    tracemalloc.start()
    try:
        response = child.request("call", Z, HOSTILE, QUICK)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status == "bad-output", response
    assert response.note.startswith("the child")
    assert peak < 4 << 20
    recovers(child, True)


RETURNED = {
    "ndarray subclass": ("""
        class Liar(np.ndarray):
            def __eq__(self, other):
                return True
            def __array_ufunc__(self, *args, **kwargs):
                return True
     """, "return np.arange(3.0).view(Liar)", "ndarray subclass Liar", np.arange(3.0)),
    "object array": ("", "return np.array([1, 'a', None], dtype=object)", "ndarray of dtype object", None),
    "1e9 elements": ("", "return np.broadcast_to(np.float64(1), (10**9,))",
                     "ndarray of float64 with 1000000000 elements (too large)", None),
    "over max_array_mb": ("", "return np.zeros(9 << 20)", "ndarray of float64 with 9437184 elements (too large)",
                          None),
    "NaN": ("", "return np.array([np.nan, 1.0])", "ndarray of float64", np.array([np.nan, 1.0])),
    "a list": ("", "return [0.5, 1, np.float32(2)]", "list", np.array([0.5, 1.0, 2.0])),
    "a string": ("", "return 'sigmoid'", "str", None),
}


@pytest.mark.parametrize("extra, in_call, described, expected", RETURNED.values(), ids=RETURNED.keys())
def test_only_plain_numeric_arrays_come_back(sandbox, extra, in_call, described, expected):
    child = sandbox(extra=extra, in_call=in_call)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.types["out"] == described
    if expected is None:
        assert "out" not in response.outputs
    else:
        out = response.outputs["out"]
        assert type(out) is np.ndarray and out.flags.c_contiguous and out.flags.writeable
        np.testing.assert_array_equal(out, expected)


def test_large_arrays_cross_both_ways(sandbox):
    child = sandbox()
    z = np.linspace(-5, 5, 3 << 20)  # 24 MB each way
    response = child.request("call", {"z": z}, HOSTILE, QUICK)
    assert response.status == "ok", response
    np.testing.assert_allclose(response.outputs["out"], 1 / (1 + np.exp(-z)))


def test_a_sigint_to_itself_is_ignored(sandbox):
    child = sandbox(in_call="import signal\nos.kill(os.getpid(), signal.SIGINT)\nreturn z")
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    recovers(child, False)


def test_a_student_error_is_described(sandbox):
    child = sandbox(in_call="raise NotImplementedError")
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "error"
    assert response.error["not_implemented"] is True
    assert response.error["message"] == "not implemented yet: single_neuron.sigmoid raises NotImplementedError"
    assert "single_neuron.py" in response.error["traceback"]


def test_a_memory_limit_too_small_for_numpy_is_an_internal_error(tmp_path, sandbox_kind):
    limits = SimpleNamespace(**{**LIMITS.model_dump(), "memory_mb": 48})
    with Child(write_submission(tmp_path / "s"), limits, sandbox=sandbox_kind) as child:
        with pytest.raises(SandboxError, match="failed to start"):
            child.start()
        if child.uid is not None:
            assert processes_of(child.uid) == []


def test_sandbox_status_can_be_forced_to_rlimits(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB2_SANDBOX", "rlimits")
    used, line = sandbox_status()
    assert used == "rlimits" and line.startswith("bubblewrap was turned off (LAB2_SANDBOX=rlimits): "
                                                 "student code ran with resource limits only; ")
    with Child(write_submission(tmp_path / "s"), LIMITS) as child:
        assert child.sandbox == "rlimits"
    monkeypatch.setenv("LAB2_SANDBOX", "none")
    with pytest.raises(SandboxError, match="expected rlimits or bubblewrap"):
        sandbox_status()
    monkeypatch.delenv("LAB2_SANDBOX")
    if _bubblewrap_works()[0]:
        used, line = sandbox_status()
        assert used == "bubblewrap" and line.startswith("student code ran in bubblewrap: no network, read-only "
                                                        "view of the submission and the data; ")


def test_slots_are_not_shared(tmp_path, sandbox_kind):
    folder = write_submission(tmp_path / "s")
    with Child(folder, LIMITS, sandbox=sandbox_kind) as first, Child(folder, LIMITS, sandbox=sandbox_kind) as second:
        assert first.slot != second.slot
        with pytest.raises(SandboxError, match="in use"):
            Child(folder, LIMITS, sandbox=sandbox_kind, slot=first.slot)


def test_data_binds_are_visible_read_only(tmp_path, sandbox_kind):
    if sandbox_kind == "rlimits" and os.geteuid() != 0:
        pytest.skip("without bubblewrap and a dedicated uid, nothing is read-only")
    # Data must be readable by the child's uid (o+r on the path), unlike pytest's private tmp_path.
    with tempfile.TemporaryDirectory() as data:
        os.chmod(data, 0o755)
        np.save(f"{data}/X.npy", np.arange(6.0))
        folder = tmp_path / "s"
        folder.mkdir()
        with Child(folder, LIMITS, binds={data: "/data"}, sandbox=sandbox_kind) as child:
            path = child.sandbox_path(f"{data}/X.npy")
            # Without bubblewrap, as root, through a descriptor the grader passes: the sandbox's
            # group is denied the grader's folders, where the data usually lies (the cache).
            expected = ("/data/X.npy" if sandbox_kind == "bubblewrap" else f"{os.path.realpath(data)}/X.npy"
                        if child.uid is None else f"/proc/self/fd/{child._bind_fds[os.path.realpath(data)]}/X.npy")
            assert path == expected
            write_submission(folder, in_call=f"""
                x = np.load({path!r}, mmap_mode="r")
                try:
                    open({path!r}, "r+b")
                except OSError:
                    return np.array(x)
                return -1
            """)
            response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    np.testing.assert_array_equal(response.outputs["out"], np.arange(6.0))


def test_start_up_and_per_request_overhead_are_small(sandbox, capsys):
    child = sandbox()
    child.start()
    started = time.perf_counter()
    for _ in range(100):
        response = child.request("call", Z, GOOD, QUICK)
        assert response.status == "ok"
    per_request = (time.perf_counter() - started) / 100
    with capsys.disabled():
        print(f"\n{child.sandbox}: start-up {child.start_seconds * 1000:.0f} ms, "
              f"{per_request * 1000:.2f} ms per request")
    assert child.start_seconds < 2.0
    assert per_request < 0.02


def test_a_closed_child_refuses_requests(tmp_path):
    child = Child(write_submission(tmp_path / "s"), LIMITS)
    assert child.request("call", Z, GOOD, QUICK).status == "ok"
    child.close()
    child.close()
    with pytest.raises(SandboxError, match="closed"):
        child.request("call", Z, GOOD, QUICK)
