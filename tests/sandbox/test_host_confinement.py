"""The host's side of the sandbox (issue 11, items 3 and 4): cgroups, seccomp, capabilities, command lines.

Like ``tests/test_sandbox.py``, each test writes a tiny ``lab2`` package whose ``single_neuron.sigmoid``
holds the hostile code and drives ``grader.sandbox.Child`` directly, with bubblewrap and without.
System calls are made through ctypes with the numbers libseccomp gives for their names, as a
student who knows them would; each test checks the grading goes on after the denied call.
"""
import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from builders.tiny_submission import FORK_BOMB, GOOD, HOSTILE, LIMITS, QUICK, Z, recovers

from grader import PROJECT
from grader.results import Report
from grader.rubric import Limits
from grader.sandbox import cgroup, processes_of, sandbox_status, seccomp_filter

pytestmark = pytest.mark.timeout(180)

CGROUPS = pytest.mark.skipif(not cgroup.status()[0], reason=f"no cgroup here: {cgroup.status()[1]}")
SECCOMP = pytest.mark.skipif(not seccomp_filter.status()[0], reason=f"no seccomp: {seccomp_filter.status()[1]}")
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox empties the bounding set only when run as root")
MB = 1 << 20
CHILD_FOLDER = PROJECT / "grader" / "sandbox"  # the child's script and protocol.py


def shmem() -> int:
    """The host's shared memory (tmpfs, memfd, SysV and POSIX shared memory), in bytes."""
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("Shmem:"))


# --- memory and processes, counted in a cgroup -----------------------------------------------------

MEMFDS = """
    fds = []
    for i in range(64):
        fd = os.memfd_create(f"lab2-{i}")
        os.write(fd, b"x" * (16 << 20))
        fds.append(fd)
    return np.array(len(fds))
"""


@CGROUPS
def test_memfds_past_the_memory_limit_kill_the_child_not_the_host(sandbox):
    # 64 memfds of 16 MB: 1 GB that belongs to no address space (RLIMIT_AS does not see it).
    limits = Limits(memory_mb=512)
    child = sandbox(limits, in_call=MEMFDS)
    child.start()
    before, peak, done = shmem(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], shmem())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = child.request("call", Z, HOSTILE, QUICK)
    finally:
        done.set()
        watcher.join()
    assert response.status == "crashed", response
    assert response.note == ("killed: memory limit of 512 MB reached (memory written to files in /tmp, memfd or "
                             "shared memory counts too)")
    assert peak[0] - before < 512 * MB, f"host shared memory grew by {(peak[0] - before) >> 20} MB"
    assert shmem() - before < 64 * MB  # given back once the child is dead
    recovers(child, True)
    usage = child.usage
    assert usage["memory_limit_kills"] == 1 and usage["processes"] == 2
    assert 400 <= usage["peak_memory_mb"] <= 512


@CGROUPS
def test_a_fork_bomb_stays_in_the_childs_cgroup_within_pids_max(sandbox):
    child = sandbox(in_call=FORK_BOMB)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    group = child._proc.cgroup
    pids = group.folders["pids" if group.version == 1 else "unified"]
    current, limit = (int(open(os.path.join(pids, name)).read()) for name in ("pids.current", "pids.max"))
    assert limit == LIMITS.processes + 2 and int(response.outputs["out"]) < current <= limit
    listed = {int(p) for p in open(os.path.join(pids, "cgroup.procs")).read().split()}
    if child.uid is not None:
        assert set(processes_of(child.uid, zombies=False)) <= listed  # every fork is counted in the cgroup
    recovers(child, False)
    child.close()
    assert not os.path.exists(pids), "the cgroup was not removed"


@CGROUPS
@ROOT
def test_pids_max_binds_where_the_uid_limit_does_not(tmp_path):
    # Root has no RLIMIT_NPROC: only the cgroup stops this fork bomb.
    group = cgroup.Cgroup(256 * MB, 8)
    script = tmp_path / "bomb.py"
    script.write_text(textwrap.dedent("""
        import os, time
        forks = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
            except OSError:
                print(forks, flush=True)
                time.sleep(60)
            forks += 1
    """))
    bomb = subprocess.Popen(["/bin/sh", "-c", 'for f; do echo $$ > "$f"; done; exec "$0" ' + str(script),
                             sys.executable, *group.procs_files], stdout=subprocess.PIPE, text=True)
    try:
        assert int(bomb.stdout.readline()) == 7
    finally:
        usage = group.finish()
        bomb.wait(10)
    assert usage.cpu_ns > 0 and usage.peak_bytes > 0
    assert not any(os.path.exists(folder) for folder in group.folders.values())


@CGROUPS
def test_peak_memory_and_cpu_of_each_child_are_in_report_json(tmp_path, reference_submission):
    out = tmp_path / "report.json"
    from conftest import SMALL_RUBRIC
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(reference_submission), "--rubric",
                          str(SMALL_RUBRIC), "--report", str(out)], capture_output=True, text=True, cwd=PROJECT)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(out.read_text())
    assert Report.from_dict(data).usage == data["usage"]
    assert len(data["usage"]) == 3  # two children side by side, then the hidden cases' own
    for usage in data["usage"]:
        assert usage["processes"] == 1 and usage["memory_limit_kills"] == 0
        assert 10 < usage["peak_memory_mb"] < 3072 and usage["cpu_seconds"] > 0.1
    assert "memory and processes counted in a cgroup" in data["sandbox"]


def test_without_a_cgroup_grading_goes_on_and_the_line_says_so(monkeypatch, sandbox):
    monkeypatch.setattr(cgroup, "status", lambda: (False, "not root"))
    assert "; no cgroup (not root): memory counted by RLIMIT_AS only" in sandbox_status()[1]
    child = sandbox()
    recovers(child, True)
    assert child.usage == {"processes": 1, "peak_memory_mb": None, "cpu_seconds": None, "memory_limit_kills": 0}


# --- system calls a numpy lab never needs ------------------------------------------------------------

def numbers() -> dict:
    import pyseccomp

    return {name: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            for name in ("add_key", "keyctl", "request_key", "unshare", "clone", "setns", "ptrace",
                         "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open", "mount", "umount2",
                         "pivot_root", "init_module", "finit_module", "delete_module", "kexec_load",
                         "kexec_file_load", "personality", "io_uring_setup", "getpid")}


CALLER = """
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)

def sc(nr, *args):
    '''The raw system call: its errno, or 0 when it worked.'''
    ctypes.set_errno(0)
    values = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = _libc.syscall(ctypes.c_long(nr), *values)
    if result == 0 and nr == NR["clone"]:
        os._exit(0)  # a clone that worked: the copy must not come back into the child's loop
    return 0 if result != -1 else ctypes.get_errno()
"""

# Calls that fail with another errno than EPERM, or work, without the filter (as root or not).
DENIED_CALLS = {
    "add_key": "sc(NR['add_key'], b'user', b'lab2-key', b'secret', 6, -4)",  # to the user keyring
    "keyctl": "sc(NR['keyctl'], 0, -4, 0)",  # KEYCTL_GET_KEYRING_ID of the user keyring
    "request_key": "sc(NR['request_key'], b'user', b'lab2-key', None, 0)",
    "clone-user": "sc(NR['clone'], 0x10000000 | 17, 0, 0, 0, 0)",  # CLONE_NEWUSER | SIGCHLD
    "setns": "sc(NR['setns'], -1, 0)",
    "ptrace": "sc(NR['ptrace'], 3, 1, 0, 0)",  # PTRACE_PEEKUSER on pid 1
    "process_vm_readv": "sc(NR['process_vm_readv'], os.getpid(), 0, 0, 0, 0, 0)",
    "bpf": "sc(NR['bpf'], 0xffff, 0, 0)",
    "perf_event_open": "sc(NR['perf_event_open'], 0, 0, -1, -1, 0)",
    "mount": "sc(NR['mount'], b'none', b'/lab2-nowhere', b'tmpfs', 0, 0)",
    "umount2": "sc(NR['umount2'], b'/lab2-nowhere', 0)",
    "pivot_root": "sc(NR['pivot_root'], b'/lab2-nowhere', b'/lab2-nowhere')",
    "personality-bsd": "sc(NR['personality'], 6)",  # PER_BSD
    "personality-no-aslr": "sc(NR['personality'], 0x0040000)",  # ADDR_NO_RANDOMIZE
    "io_uring_setup": "sc(NR['io_uring_setup'], 1, 0)",
    "unshare-user": "sc(NR['unshare'], 0x10000000)",  # CLONE_NEWUSER, as `unshare -Ur`: last, see below
}
# Denied too, but a kernel may refuse them with EPERM anyway (modules or kexec disabled).
ALSO_DENIED = {
    "init_module": "sc(NR['init_module'], 0, 0, b'')",
    "finit_module": "sc(NR['finit_module'], -1, b'', 0)",
    "delete_module": "sc(NR['delete_module'], b'lab2_no_such_module', 0o4000)",
    "kexec_load": "sc(NR['kexec_load'], 0, 0, 0, 0xdead0000)",  # invalid flags: EINVAL when allowed
    "kexec_file_load": "sc(NR['kexec_file_load'], -1, -1, 0, 0, 0xdead0000)",
}
ALLOWED_CALLS = {
    "personality-query": "sc(NR['personality'], 0xffffffff)",
    "personality-linux": "sc(NR['personality'], 0)",
    "getpid": "sc(NR['getpid'])",
}


def calling(calls: dict, extra: str = "") -> dict:
    body = "\n".join(f"out.append({code})" for code in calls.values())
    return {"extra": f"NR = {numbers()!r}\n" + CALLER,
            "in_call": "out = []\n" + body + "\n" + textwrap.dedent(extra) + "\nreturn np.array(out)"}


@SECCOMP
def test_each_denied_call_fails_with_eperm_inside_the_graded_function(sandbox):
    calls = DENIED_CALLS | ALSO_DENIED | ALLOWED_CALLS
    child = sandbox(**calling(calls))
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    got = dict(zip(calls, response.outputs["out"].tolist()))
    assert got == {name: errno.EPERM for name in DENIED_CALLS | ALSO_DENIED} | {name: 0 for name in ALLOWED_CALLS}
    recovers(child, False)  # the same process goes on


@SECCOMP
def test_a_denied_call_is_an_oserror_for_the_student(sandbox):
    child = sandbox(**calling({}, """
        if sc(NR["add_key"], b"user", b"lab2-key", b"secret", 6, -4):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    """))
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "error", response
    assert response.error["where"] == "single_neuron.sigmoid"
    assert "[Errno 1] Operation not permitted" in response.error["message"]
    recovers(child, False)


@SECCOMP
def test_threads_fork_and_subprocesses_still_work_under_the_filter(sandbox):
    # clone3 answers ENOSYS: glibc falls back to clone for threads.
    child = sandbox(in_call="""
        import subprocess, threading
        seen = []
        thread = threading.Thread(target=lambda: seen.append(np.ones((64, 64)) @ np.ones((64, 64))))
        thread.start()
        thread.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        ran = subprocess.run(["sh", "-c", "echo 42"], capture_output=True, text=True).stdout
        return np.array([seen[0][0, 0], code, int(ran)])
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.outputs["out"].tolist() == [64, 7, 42]


@SECCOMP
def test_a_key_left_by_one_grading_is_invisible_to_the_next(sandbox):
    first = sandbox(**calling({"add": DENIED_CALLS["add_key"]}))
    second = sandbox(**calling({"find": "sc(NR['request_key'], b'user', b'lab2-key', None, 0)",
                                "search": "sc(NR['keyctl'], 10, -4, b'user', b'lab2-key', 0)"}))  # KEYCTL_SEARCH
    response = first.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok" and response.outputs["out"].tolist() == [errno.EPERM], response
    first.close()
    response = second.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok" and response.outputs["out"].tolist() == [errno.EPERM] * 2, response
    with open("/proc/keys") as f:
        assert "lab2-key" not in f.read()


@SECCOMP
def test_the_filter_itself_turns_each_call_into_eperm(tmp_path):
    # Outside any sandbox, the same calls with and without the filter: without it none of them
    # fails with EPERM, so the EPERM seen in the sandbox is the filter's. (Unfiltered, the key
    # goes to a keyring that does not exist, so that nothing is left on the host; the new user
    # namespace comes last, as the calls after it would run in it.)
    calls = DENIED_CALLS | {"add_key": "sc(NR['add_key'], b'user', b'lab2-key', b'secret', 6, 0x7ffffff0)"}
    script = tmp_path / "calls.py"
    script.write_text(f"import json, os, sys\nsys.path.insert(0, {str(CHILD_FOLDER)!r})\nNR = {numbers()!r}\n" + CALLER
                      + textwrap.dedent(f"""
        import child  # as in the sandbox: the script with protocol.py beside it, no grader package
        if sys.argv[1] == "filtered":
            child._prctl(child._PR_SET_NO_NEW_PRIVS, 1)
            child._load_seccomp(open(sys.argv[2], "rb").read())
        calls = {calls!r}
        print(json.dumps({{name: eval(code) for name, code in calls.items()}}))
    """))
    program = tmp_path / "filter.bpf"
    program.write_bytes(seccomp_filter.program())
    results = {}
    for mode in ("filtered", "plain"):
        run = subprocess.run([sys.executable, str(script), mode, str(program)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        results[mode] = json.loads(run.stdout)
    assert results["filtered"] == {name: errno.EPERM for name in DENIED_CALLS}
    assert all(code != errno.EPERM for code in results["plain"].values()), results["plain"]


# --- capabilities and command lines ------------------------------------------------------------------

@ROOT
def test_the_capability_bounding_set_is_empty(sandbox):
    child = sandbox(in_call="""
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        return np.array([int(status[key], 16) for key in ("CapBnd", "CapEff", "CapPrm", "CapAmb", "NoNewPrivs")])
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    assert response.outputs["out"].tolist() == [0, 0, 0, 0, 1]


def test_no_command_line_shows_a_host_path_of_the_submission_or_the_cache(sandbox, tmp_path):
    cache = tmp_path / "cache-folder"
    cache.mkdir()
    cache.chmod(0o755)
    child = sandbox(binds={cache: "/data"}, in_call="""
        seen = []
        for pid in ["1", "self", str(os.getppid())]:
            try:
                seen.append(open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
        print("\\n".join(seen))
        return z
    """)
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok", response
    inside = response.output_tail
    assert "child.py" in inside  # the test can tell
    # What the host's ps shows of the child's processes (all of them in its cgroup, when it has one).
    host = ""
    if child._proc.cgroup is not None:
        for procs in child._proc.cgroup.procs_files:
            for pid in open(procs).read().split():
                host += open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace") + "\n"
        assert "child.py" in host
    for secret in (str(child.folder), str(cache), str(PROJECT / ".cache"), str(tmp_path)):
        assert secret not in inside and secret not in host


def test_the_sandbox_line_says_when_seccomp_is_missing(monkeypatch, sandbox):
    monkeypatch.setattr(seccomp_filter, "status", lambda: (False, "libseccomp2 is not installed"))
    assert sandbox_status()[1].endswith("; no seccomp filter (libseccomp2 is not installed)")
    child = sandbox(in_call="return np.array(int(open('/proc/self/status').read().split('Seccomp:')[1].split()[0]))")
    response = child.request("call", Z, HOSTILE, QUICK)
    assert response.status == "ok" and int(response.outputs["out"]) == 0, response
    assert child.request("call", Z, GOOD, QUICK).status == "ok"


def test_cgroup_v2_is_found_and_used_where_memory_and_pids_are_delegated(tmp_path, monkeypatch):
    # This project's machines have cgroup v1; v2 is checked on a stand-in tree of plain files.
    mount, own = tmp_path / "unified", tmp_path / "unified" / "grader.slice"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    (tmp_path / "mountinfo").write_text(f"30 25 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
                                        f"31 25 0:27 / {tmp_path}/v1 rw - cgroup cgroup rw,cpuset\n")
    (tmp_path / "cgroup").write_text("1:cpuset:/\n0::/grader.slice\n")
    layout = cgroup._layout.__wrapped__(str(tmp_path / "mountinfo"), str(tmp_path / "cgroup"))
    assert layout == (cgroup._Layout(2, {"unified": str(own)}), "")
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    monkeypatch.setattr(cgroup, "_layout", lambda: layout)
    group = cgroup.Cgroup(512 * MB, 34)
    folder = own / group.name
    assert {f: (folder / f).read_text() for f in ("memory.max", "memory.swap.max", "pids.max", "cpu.weight")} == {
        "memory.max": str(512 * MB), "memory.swap.max": "0", "pids.max": "34", "cpu.weight": "100"}
    assert group.procs_files == [str(folder / "cgroup.procs")]
    (folder / "memory.peak").write_text("123456789\n")
    (folder / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1
    assert group.finish() == cgroup.Usage(123456789, 2_500_000_000, 1)
    assert (folder / "cgroup.kill").read_text() == "1"


def test_no_cgroup_where_v2_controllers_cannot_be_delegated(tmp_path):
    own = tmp_path / "unified"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpu io\n")
    (tmp_path / "mountinfo").write_text(f"30 25 0:26 / {own} rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "cgroup").write_text("0::/\n")
    assert cgroup._layout.__wrapped__(str(tmp_path / "mountinfo"), str(tmp_path / "cgroup")) == (
        None, "cgroup v2 without the memory and pids controllers")
