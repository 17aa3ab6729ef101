"""The POSIX ACL entry that hides the project from the sandbox's group when bubblewrap is missing
(``grader.sandbox.hiding``): it denies that group only and keeps a teacher's own entries.

Forks a plain process per check (no sandboxed child); what a student's code can read through
the fallback is tests/sandbox/test_limits.py.
"""
import os
import struct
import tempfile

import pytest

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="without root there is no dedicated uid to hide files from")


def _can_list(folder, uid: int, gid: int) -> bool:
    """Whether a process of ``uid``/``gid`` (no other group) may list ``folder``."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.listdir(folder)
            os._exit(0)
        except OSError:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


@ROOT
def test_the_acl_entry_denies_the_sandbox_group_only_and_keeps_an_existing_acl():
    from grader.sandbox import hiding
    from grader.sandbox.slots import SANDBOX_GID
    with tempfile.TemporaryDirectory() as base:  # world-searchable, unlike pytest's tmp_path
        os.chmod(base, 0o755)
        folder = os.path.join(base, "project")
        os.mkdir(folder)
        os.chmod(folder, 0o755)
        _hidden_from_the_sandbox_group_only(hiding, folder, SANDBOX_GID)


def _hidden_from_the_sandbox_group_only(hiding, folder, gid):
    # An ACL of the teacher's own: user 12345 may not enter; it stays.
    os.setxattr(folder, hiding.XATTR, struct.pack("<I", 2) + b"".join(
        hiding._ENTRY.pack(*e) for e in [(1, 7, 0xFFFFFFFF), (2, 0, 12345), (4, 5, 0xFFFFFFFF),
                                         (0x10, 5, 0xFFFFFFFF), (0x20, 5, 0xFFFFFFFF)]))
    assert _can_list(folder, 61999, gid) and not _can_list(folder, 12345, 12345)
    assert hiding.hide(folder, gid) == ""
    assert not _can_list(folder, 61999, gid)       # the sandbox group: refused
    assert _can_list(folder, 61999, 61999)                 # anyone else: "other"'s r-x, as before
    assert not _can_list(folder, 12345, 12345)             # the teacher's own entry is kept
    assert os.stat(folder).st_mode & 0o777 == 0o755
