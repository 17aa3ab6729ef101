"""The sandbox's seccomp filter: system calls a numpy lab never needs fail with EPERM.

Built once with libseccomp (through ``pyseccomp``, a ctypes binding with the API of
libseccomp's own Python bindings, on the system's ``libseccomp2``) and handed to the child as
a compiled BPF program: bubblewrap loads it with ``--seccomp FD`` right before it starts the
child; without bubblewrap the child loads it itself (``grader/sandbox/child.py``) before any student
code runs. Everything not listed is allowed: this filter removes kernel surface that an
adversarial submission could use to reach the host or another student (the keyring, new user
namespaces, tracing, BPF, perf, the mount family, modules, kexec, odd personalities), it is
not an allow-list of what numpy needs.

A denied call returns EPERM, so student code sees an ``OSError`` in the graded function and
the grading goes on; nothing is killed. Two exceptions: ``clone3`` returns ENOSYS, because its
flags lie in memory a filter cannot read, and glibc then falls back to ``clone``, whose flags
it can (threads and fork keep working, new user namespaces do not); a call made with a foreign
architecture's convention (neither x86-64, i386 nor x32 on x86-64) kills the process.

Not this module's job: applying the filter (bubblewrap or the child do), or the capability
bounding set (the child empties it before it drops root).
"""
import functools
import os

try:
    import pyseccomp as _seccomp
except (ImportError, RuntimeError, OSError) as err:  # RuntimeError: libseccomp2 is not installed
    _seccomp, _MISSING = None, f"{type(err).__name__}: {err}"
else:
    _MISSING = ""

CLONE_NEWUSER = 0x10000000

# Denied outright, with EPERM. Names libseccomp does not know on this machine are skipped.
DENIED = (
    # the kernel keyring: keys outlive the process and may be read by a later grading
    "add_key", "keyctl", "request_key",
    # other namespaces than the sandbox's own (a new user namespace is filtered on its flag below)
    "setns",
    # reading or writing other processes
    "ptrace", "process_vm_readv", "process_vm_writev",
    # large kernel interfaces, classic ways in
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    # the mount family
    "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr",
    # kernel modules and kexec
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
)
# What a test checks is denied (the others depend on the libseccomp and kernel versions).
CORE = ("add_key", "keyctl", "request_key", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "bpf",
        "perf_event_open", "mount", "umount2", "pivot_root", "init_module", "finit_module", "delete_module",
        "kexec_load", "personality", "unshare", "clone")


def status() -> tuple[bool, str]:
    """``(usable, why not)``: whether the filter can be built here."""
    if _seccomp is None:
        return False, f"libseccomp's Python binding pyseccomp cannot load ({_MISSING})"
    try:
        program()
    except OSError as err:
        return False, f"libseccomp could not build the filter: {err}"
    return True, ""


@functools.cache
def program() -> bytes:
    """The compiled filter: a BPF program (``struct sock_filter`` array), as bubblewrap reads it."""
    if _seccomp is None:
        raise OSError(f"no libseccomp: {_MISSING}")
    sc = _seccomp
    deny = sc.ERRNO(1)  # EPERM
    f = sc.SyscallFilter(sc.ALLOW)
    if sc.system_arch() == sc.Arch.X86_64:
        # The same rules for 32-bit calls (int 0x80) and x32 ones: a filter for x86-64 alone
        # would leave i386's add_key (number 286) open to a process that knows the trick.
        for arch in (sc.Arch.X86, sc.Arch.X32):
            if not f.exist_arch(arch):
                f.add_arch(arch)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name in DENIED:
        _add(f, deny, name)
    # New user namespaces (where an unprivileged process gets every capability back).
    _add(f, deny, "unshare", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    _add(f, deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    _add(f, sc.ERRNO(38), "clone3")  # ENOSYS: glibc falls back to clone (see the docstring)
    # personality: only the query (0xffffffff) and PER_LINUX (0) are left. The kernel reads the
    # low 32 bits; they hold 0 or 0xffffffff exactly when no two neighbouring bits differ, and
    # each rule below matches one pair of neighbours that differs (libseccomp allows one
    # comparison per argument in a rule; rules are or-ed).
    for bit in range(31):
        for value in (1, 2):
            _add(f, deny, "personality", sc.Arg(0, sc.MASKED_EQ, 3 << bit, value << bit))
    fd = os.memfd_create("lab2-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            f.export_bpf(out)
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _add(f, action, name, *args) -> None:
    if _seccomp.resolve_syscall(_seccomp.Arch.NATIVE, name) == -1:  # __NR_SCMP_ERROR
        return  # unknown to this libseccomp: nothing to deny
    f.add_rule(action, name, *args)
