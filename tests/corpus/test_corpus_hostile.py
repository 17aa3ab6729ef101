"""Hostile student code graded end to end with the small rubric (issue 6, corpus 3).

``tests/test_sandbox.py`` attacks the sandbox one request at a time; here whole submissions go
through ``grader.api.grade``: the question holding the hostile code must lose its points and
say why, every other question must get exactly the reference's points, the grader must finish
within the time its limits allow, and nothing outside the sandbox may be read or changed.

Each case puts its code in one *lane*: at the import of a module, or at the start of one
function that only one question calls (``multiclass.one_hot`` is q3_2's alone, for instance).
To keep the suite fast, cases whose lanes touch different questions share one graded
submission (a *pack*); each case is still its own test, and every test checks that the
questions outside all of its pack's lanes got the reference's points. The limits are cut to
5 s per import and per unit question and 30 s per training (``LIMITS``).
"""
import fcntl
import json
import os
import socket
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from builders import corpus
from conftest import SMALL_RUBRIC

from grader import PROJECT, api
from grader.sandbox import BASE_UID, MAX_SLOTS, processes_of, sandbox_status

pytestmark = pytest.mark.timeout(300)

LIMITS = {"import_seconds": 5, "call_seconds": 5, "train_seconds": 30}
BUBBLEWRAP = sandbox_status()[0] == "bubblewrap"


@dataclass(frozen=True)
class Lane:
    module: str
    function: str | None      # None: at import
    questions: frozenset      # the questions that call it (and only they)


def _lane(module, function, *questions):
    return Lane(module, function, frozenset(questions))


LANES = {
    "multiclass import": _lane("multiclass", None, "q3_2", "q3_3"),
    "hidden_layer import": _lane("hidden_layer", None, "q2_1", "q2_2", "q2_3"),
    "one_hot": _lane("multiclass", "one_hot", "q3_2"),                   # q3_2's unit cases only
    "multiclass.init_params": _lane("multiclass", "init_params", "q3_3"),  # train gets the reference's init
    "hidden_layer.init_params": _lane("hidden_layer", "init_params", "q2_1"),
    "single_neuron.predict": _lane("single_neuron", "predict", "q1_5"),  # unit cases and after training
    "single_neuron.train": _lane("single_neuron", "train", "q1_5"),
}


@dataclass(frozen=True)
class Case:
    name: str
    lane: str
    code: str
    says: str = ""            # what the lane's questions' one-line summaries must contain
    hangs: bool = False       # runs into the lane's time limit (for the time bound)
    harmless: bool = False    # the questions keep their points (printing is not a mistake)
    needs_bubblewrap: bool = False  # without bubblewrap the dedicated uid sees world-readable files


class Env:
    """Canaries outside the sandbox, a listening socket, and the rubric copy with short limits."""

    def __init__(self, root: Path):
        self.root = root
        self.students = root / "students"
        bob = self.students / "bob"
        corpus.write_submission(bob)
        self.canaries = {  # path -> content: each must be unchanged, mtime included, after grading
            bob / "CANARY": "bob's own file\n",
            root / "out" / "CANARY": "the teacher's output folder\n",
        }
        raw = yaml.safe_load(SMALL_RUBRIC.read_text())
        raw["limits"].update(LIMITS)
        self.rubric_path = root / "rubric.yaml"
        self.canaries[self.rubric_path] = "# the project's rubric copy\n" + yaml.safe_dump(raw)
        for path, text in self.canaries.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.utime(path, (1_000_000_000, 1_000_000_000))
        self.rubric = api.load_rubric(self.rubric_path)
        # Read, never written, by the hostile code. (Their mtimes are not checked: other people
        # may be editing the project while the tests run; the canaries above are the tests' own.)
        self.project_files = [PROJECT / "reference/lab2/single_neuron.py", PROJECT / "grader/api.py",
                              PROJECT / "rubric.yaml"]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]

    def code(self, case: Case) -> str:
        """The case's code with the canaries' paths and the listener's port filled in."""
        reads = [*map(str, self.project_files), *map(str, self.canaries)]
        writes = [*map(str, self.canaries), str(self.students / "bob" / "lab2" / "pwned.py"), "lab2/pwned.py"]
        code = textwrap.dedent(case.code).strip("\n")
        if "OUT +" in code or "OUT if" in code:
            code = "OUT = 'ESC' + 'APED'\n" + code
        for marker, value in (("@READS@", repr(reads)), ("@WRITES@", repr(writes)), ("@PORT@", str(self.port)),
                              ("@OUT_CANARY@", str(self.root / "out" / "CANARY"))):
            code = code.replace(marker, value)
        return code

    def touched(self) -> list:
        """Canaries whose content or mtime changed, and files planted in a submission."""
        bad = [str(p) for p, text in self.canaries.items()
               if p.read_text() != text or p.stat().st_mtime != 1_000_000_000]
        return bad + [str(p) for p in self.students.rglob("pwned.py")]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


# Markers in a case's code, replaced when the submission is built (see ``Env.code``).
CASES = [
    # ---- at import: the module's questions are reported as blocked, with the reason
    Case("infinite-loop-at-import", "multiclass import", "while True:\n    pass", "took more than 5 s", hangs=True),
    Case("sleep-at-import", "hidden_layer import", "time.sleep(1e9)", "took more than 5 s", hangs=True),
    Case("sys-exit-at-import", "multiclass import", "sys.exit(0)", "raised SystemExit"),
    Case("os-exit-at-import", "hidden_layer import", "os._exit(0)", "exited with code 0"),
    Case("kill-9-at-import", "multiclass import", "os.kill(os.getpid(), 9)", "killed by signal 9"),
    Case("input-at-import", "hidden_layer import", "input()", "input() at import"),
    Case("50GB-at-import", "multiclass import", "_hog = np.ones((50 * 2**30 // 8,))", "MemoryError"),
    Case("print-100MB-at-import", "hidden_layer import", "sys.stdout.write('x' * (100 << 20))\nsys.stdout.flush()",
         harmless=True),
    # ---- inside a graded function
    Case("infinite-loop-in-one_hot", "one_hot", "while True:\n    pass", "did not return within", hangs=True),
    Case("sleep-in-init_params", "multiclass.init_params", "time.sleep(1e9)", "did not return within", hangs=True),
    Case("fork-bomb-in-init_params", "hidden_layer.init_params",
         "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass", "did not return within",
         hangs=True),
    Case("sys-exit-in-predict", "single_neuron.predict", "sys.exit(0)", "raised SystemExit"),
    Case("os-exit-in-predict", "single_neuron.predict", "os._exit(0)", "exited with code 0"),
    Case("kill-9-in-predict", "single_neuron.predict", "os.kill(os.getpid(), 9)", "killed by signal 9"),
    Case("input-in-predict", "single_neuron.predict", "input()", "input() cannot be answered"),
    Case("50GB-in-init_params", "multiclass.init_params", "bytearray(50 * 2**30)", "memory limit"),
    Case("print-100MB-in-predict", "single_neuron.predict",
         "global _printed\nif not globals().get('_printed'):\n    _printed = True\n"
         "    sys.stdout.write('x' * (100 << 20))\n    sys.stdout.flush()", harmless=True),
    # Attempts to get out: the code raises "BLOCKED: ..." when every attempt failed and
    # "ESCAPED: ..." when one succeeded, so the report itself says which. The word is built at
    # run time (``OUT``, defined by ``Env.code``): the source lines a traceback quotes never
    # hold it.
    Case("read-outside-in-one_hot", "one_hot", """
        got = []
        for path in @READS@:
            try:
                with open(path, 'rb') as f:
                    got.append(path + ': ' + repr(f.read(20)))
            except OSError:
                pass
        assert os.path.exists('lab2/multiclass.py'), 'not in the submission folder?'
        raise RuntimeError((OUT + ': read ' + '; '.join(got)) if got else 'BLOCKED: nothing outside could be read')
        """, "BLOCKED: nothing outside could be read", needs_bubblewrap=True),
    Case("write-outside-in-init_params", "multiclass.init_params", """
        done = []
        for path in @WRITES@:
            try:
                with open(path, 'a') as f:
                    f.write('pwned')
                done.append('wrote ' + path)
            except OSError:
                pass
            try:
                os.utime(path, (0, 0))
                done.append('touched ' + path)
            except OSError:
                pass
        raise RuntimeError((OUT + ': ' + '; '.join(done)) if done else 'BLOCKED: nothing could be written')
        """, "BLOCKED: nothing could be written", needs_bubblewrap=True),
    Case("socket-in-init_params", "hidden_layer.init_params", """
        try:
            s = socket.create_connection(("127.0.0.1", @PORT@), timeout=2)
            s.sendall(b"pwned")
        except OSError as err:
            raise RuntimeError(f"BLOCKED: {err}")
        raise RuntimeError(OUT + ": connected to the grader's host")
        """, "BLOCKED:", needs_bubblewrap=True),
    Case("subprocess-in-predict", "single_neuron.predict", """
        subprocess.Popen(["sleep", "1000"], start_new_session=True)  # must not outlive the grading
        run = subprocess.run(["sh", "-c", "echo pwned >> @OUT_CANARY@"], capture_output=True)
        raise RuntimeError((OUT if run.returncode == 0 else "BLOCKED") + f": sh exited with {run.returncode}")
        """, "BLOCKED: sh exited with", needs_bubblewrap=True),
    # ---- what comes back: only plain numeric arrays cross, and they are judged in the parent
    Case("ndarray-subclass-in-one_hot", "one_hot", """
        class Liar(np.ndarray):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __array_ufunc__(self, *args, **kwargs):
                return True
            def __array_function__(self, *args, **kwargs):
                return True
        return np.zeros((10, 7)).view(Liar)
        """, "returned an ndarray subclass Liar"),
    Case("object-array-in-init_params", "multiclass.init_params",
         "p = _reference_init_params(*args, **kwargs)\nreturn {k: v.astype(object) for k, v in p.items()}",
         "is ndarray of dtype object"),
    Case("broadcast-1e9-in-init_params", "hidden_layer.init_params",
         "p = _reference_init_params(*args, **kwargs)\np['W1'] = np.broadcast_to(np.float64(0.01), (10**9,))\n"
         "return p", "too large"),
    Case("real-1e9-in-predict", "single_neuron.predict", "return np.ones(10**9)", "Unable to allocate"),
    Case("numpy-patched-in-one_hot", "one_hot", """
        np.allclose = np.array_equal = np.array_equiv = lambda *a, **k: True
        np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
        np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
        return np.zeros((3, 3))
        """, "shape (3, 3), expected (10, 7)"),
    Case("nan-in-one_hot", "one_hot", "Y = _reference_one_hot(*args, **kwargs)\nY[0, 0] = np.nan\nreturn Y",
         "got nan"),
    Case("nan-in-init_params", "hidden_layer.init_params",
         "p = _reference_init_params(*args, **kwargs)\np['W1'][0, 0] = np.nan\nreturn p", "not finite"),
    Case("nan-losses-in-train", "single_neuron.train",
         "W, b, losses = _reference_train(*args, **kwargs)\nreturn W, b, [float('nan')] * len(losses)", "is nan"),
]
CASE = {c.name: c for c in CASES}

# Cases that share a graded submission: their lanes touch different questions.
PACKS = {
    "hangs-at-import": ["infinite-loop-at-import", "sleep-at-import", "sys-exit-in-predict"],
    "exits-at-import": ["sys-exit-at-import", "os-exit-at-import", "kill-9-in-predict"],
    "more-at-import": ["kill-9-at-import", "input-at-import", "input-in-predict"],
    "memory-and-output-at-import": ["50GB-at-import", "print-100MB-at-import", "nan-losses-in-train"],
    "hangs-in-call": ["infinite-loop-in-one_hot", "sleep-in-init_params", "fork-bomb-in-init_params",
                      "os-exit-in-predict"],
    "escapes": ["read-outside-in-one_hot", "write-outside-in-init_params", "socket-in-init_params",
                "subprocess-in-predict"],
    "returned-values": ["ndarray-subclass-in-one_hot", "object-array-in-init_params",
                        "broadcast-1e9-in-init_params", "real-1e9-in-predict"],
    "patches-and-nan": ["numpy-patched-in-one_hot", "50GB-in-init_params", "nan-in-init_params",
                        "print-100MB-in-predict"],
    "nan": ["nan-in-one_hot"],
}
PACK_OF = {name: pack for pack, names in PACKS.items() for name in names}


def pack_lanes(pack) -> list:
    return [LANES[CASE[n].lane] for n in PACKS[pack]]


def test_every_case_is_in_one_pack_whose_lanes_do_not_meet():
    assert sorted(PACK_OF) == sorted(CASE) and sum(map(len, PACKS.values())) == len(CASE)
    for pack in PACKS:
        lanes = pack_lanes(pack)
        questions = [q for lane in lanes for q in lane.questions]
        assert len(questions) == len(set(questions)), f"{pack}: two cases touch one question"
        failing_imports = {lane.module for lane in lanes if lane.function is None}
        assert not failing_imports & {lane.module for lane in lanes if lane.function}, \
            f"{pack}: a function of a module whose import is hostile"


def _free_slots(n=2, start=500):
    """Sandbox slots that no child holds now, passed to the grader so that the test knows which
    dedicated uids to check for leftover processes (slots from 500 up: the grader's own pick
    starts at 0)."""
    folder = Path(tempfile.gettempdir()) / f"lab2-sandbox-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    found = []
    for slot in range(start, MAX_SLOTS):
        fd = os.open(folder / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            found.append(slot)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)  # the lock goes with it: the grader's Child takes the slot next
        if len(found) == n:
            return tuple(found)
    raise RuntimeError("no free sandbox slots")


@dataclass
class Graded:
    report: object
    seconds: float
    leftovers: list           # processes of the children's uids after grading
    touched: list             # canaries changed
    connections: int          # connections the listener accepted


@pytest.fixture(scope="session")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("hostile"))
    yield e
    e.listener.close()


@pytest.fixture(scope="session")
def graded_packs(env, grade_small):
    """``pack(name) -> Graded``: each pack built and graded once, on first use."""
    done = {}

    def pack(name):
        if name not in done:
            hostile = [corpus.Hostile(c.name, LANES[c.lane].module, LANES[c.lane].function, env.code(c))
                       for c in (CASE[n] for n in PACKS[name])]
            folder = corpus.build_hostile(hostile, env.students / name)
            slots = _free_slots()
            start = time.monotonic()
            report = grade_small(folder, env.rubric, slots=slots)
            seconds = time.monotonic() - start
            leftovers = [pid for slot in slots if os.geteuid() == 0 for pid in processes_of(BASE_UID + slot)]
            done[name] = Graded(report, seconds, leftovers, env.touched(), env.connections())
        return done[name]
    return pack



def _hang_seconds(pack) -> float:
    """What the pack's hanging cases may add to a grading: their limits, counted one after the other."""
    return sum(LIMITS["import_seconds"] if LANES[CASE[n].lane].function is None else LIMITS["call_seconds"]
               for n in PACKS[pack] if CASE[n].hangs)


@pytest.mark.parametrize("name", list(CASE))
def test_hostile_code_costs_its_own_questions_only(name, graded_packs, reference_report):
    case, pack = CASE[name], PACK_OF[name]
    if case.needs_bubblewrap and not BUBBLEWRAP:
        pytest.skip(f"needs bubblewrap (sandbox here: {sandbox_status()[1]})")
    graded = graded_packs(pack)
    report, ref = graded.report, reference_report
    assert report.status == "graded", corpus.explain(report)

    # Bounded time: the reference's time, plus the limits the hanging cases run into.
    assert graded.seconds < ref.seconds + _hang_seconds(pack) + 30, f"{graded.seconds:.1f} s"

    # The questions of the case's lane lose points and say why (or keep them when harmless).
    for qid in LANES[case.lane].questions:
        q = report.question(qid)
        if case.harmless:
            assert (q.auto_points, q.status) == (ref.question(qid).auto_points, "passed"), corpus.explain(report, {qid})
        else:
            assert q.auto_points < q.max_auto, corpus.explain(report, {qid})
            assert case.says in q.summary, corpus.explain(report, {qid})

    # Every question outside the pack's lanes is graded as if there were no hostile code.
    touched = {qid for lane in pack_lanes(pack) for qid in lane.questions}
    for q in report.questions:
        if q.id not in touched:
            r = ref.question(q.id)
            assert (q.auto_points, q.status, q.summary) == (r.auto_points, r.status, r.summary), \
                corpus.explain(report, {q.id})

    # Nothing outside the sandbox was changed, reached or left running.
    assert graded.touched == []
    assert graded.connections == 0
    assert graded.leftovers == [], "processes of the sandbox's uids outlived the grading"
    assert "ESCAPED" not in json.dumps(report.to_dict())


@pytest.mark.parametrize("name", ["print-100MB-at-import", "print-100MB-in-predict"])
def test_a_flood_of_output_reaches_the_report_bounded(name, graded_packs):
    # The child's output is kept in a bounded buffer; what a question printed reaches its
    # feedback cut to its head and tail (run.PRINTED_CHARS), never whole.
    from grader.submission.run import PRINTED_CHARS

    report = graded_packs(PACK_OF[name]).report
    text = json.dumps(report.to_dict())
    assert len(text) < 1 << 20
    assert "x" * (PRINTED_CHARS + 1) not in text
    if name.endswith("in-predict"):
        assert "characters not kept" in report.question("q1_5").printed


def test_patching_builtins_costs_its_own_question_only(env, grade_small, reference_report):
    case = corpus.Hostile("float-patched", "multiclass", "one_hot",
                          "builtins.float = lambda *a, **k: 0.0\nreturn np.zeros((3, 3))")
    report = grade_small(corpus.build_hostile([case], env.students / "float-patched"), env.rubric)
    assert report.status == "graded"
    assert "q3_2" in corpus.lost(report)
    others = {q.id: (q.auto_points, q.status) for q in report.questions if q.id != "q3_2"}
    assert others == {q.id: (q.auto_points, q.status) for q in reference_report.questions if q.id != "q3_2"}, \
        corpus.explain(report, corpus.lost(report))
