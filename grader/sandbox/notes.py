"""What the student reads when a request did not simply return: how a child ended, and the
limit behind an exception the sandbox caused.

Not this module's job: noticing that a child ended (``grader.sandbox.process``).
"""
import signal

_SIGNAL_CAUSES: dict[int, str] = {  # keyed by number: the exit status gives an int, and a Signals is one
    signal.SIGKILL: "sent by student code, or by the system when it ran out of memory",
    signal.SIGSEGV: "a crash in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGBUS: "a crash in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGABRT: "an abort in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGXCPU: "the CPU time limit",
}


def signal_of(code: int, sandbox: str) -> int | None:
    """The signal that ended a child, from its exit status (bwrap reports signal n as exit code 128+n)."""
    return -code if code < 0 else code - 128 if sandbox == "bubblewrap" and 128 < code < 128 + 65 else None


def describe_exit(code: int, sandbox: str, limits, output: str, oom: bool = False) -> str:
    """What ended a child, from its exit status and, with ``oom``, the out-of-memory kills its
    cgroup counted."""
    sig = signal_of(code, sandbox)
    if sig == signal.SIGKILL and oom:
        return (f"killed: memory limit of {limits.memory_mb} MB reached (memory written to files in /tmp, "
                "memfd or shared memory counts too)")
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        cause = _SIGNAL_CAUSES.get(sig, "").format(mb=limits.memory_mb)
        return f"killed by signal {sig} ({name}{': ' + cause if cause else ''})"
    if "OpenBLAS error: Memory allocation" in output:
        return (f"the child process exited with code {code}: OpenBLAS could not allocate memory "
                f"within the memory limit of {limits.memory_mb} MB")
    if code == 0:
        return "the child process exited with code 0 (sys.exit or os._exit in student code?)"
    return f"the child process exited with code {code} (os._exit in student code, or student code broke the child)"


def error_note(error: dict, limits) -> str:
    """A hint for the exceptions the sandbox itself causes."""
    error_type, message = error.get("type", ""), error.get("message", "")
    if error_type.endswith("MemoryError"):  # numpy raises its own _ArrayMemoryError
        return f"memory limit of {limits.memory_mb} MB reached (MemoryError)"
    if error_type == "EOFError":
        return "stdin is empty: input() cannot be answered"
    if "[Errno 27]" in message:
        return f"file size limit of {limits.file_size_mb} MB reached"
    if error_type == "BlockingIOError" and "[Errno 11]" in message:
        return f"process limit of {limits.processes} processes and threads reached"
    return ""


def join(notes) -> str:
    return "; ".join(n for n in notes if n)
