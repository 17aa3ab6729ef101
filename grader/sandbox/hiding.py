"""Hiding the grader's own files from student code in the sandbox without bubblewrap.

Without bubblewrap (``LAB2_SANDBOX=rlimits``, or a container that refuses its namespaces, as
Gradescope's Docker may) the child sees the host's files, and the dedicated uid reads whatever
is world-readable: the project's ``reference/lab2`` (the solution), ``rubric.yaml`` (the hidden
seeds), the cached answers under ``.cache/``, the Gradescope bundle's ``/autograder/source``. So
every such child runs with the group ``SANDBOX_GID`` (``grader.sandbox.slots``), and the
project's folder and the cache's folder carry one POSIX ACL entry, ``group:62000:---``: a
process of that group is refused everything below them (an ACL's matching group entry is
final: "other"'s bits are never consulted), while every other user keeps the access the
folder's mode gives. The child still reaches what it needs there (the virtual environment, the
grading data) through descriptors opened before it drops root: ``grader.sandbox.child`` for its
``sys.path``, ``grader.sandbox.process`` for the data binds.

The entry is added once per process, to the folder alone (nothing below it changes, no mode
changes, ``getfacl`` shows it), and kept: it denies only a group nobody else has. Where the file
system refuses ACLs, ``hide`` says why and the report's sandbox line says the grader's files
were readable. Only as root: an unprivileged grader has no dedicated uid to hide them from.

Not this module's job: which folders (``grader.sandbox.launch``), the uid and group (the child).
"""
import errno
import functools
import os
import struct

XATTR = "system.posix_acl_access"
_VERSION = 2
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF
_ENTRY = struct.Struct("<HHI")  # tag, permissions (rwx bits), id


def _parse(blob: bytes) -> list[tuple[int, int, int]]:
    """``[(tag, perm, id)]`` from the kernel's xattr form of an ACL."""
    if len(blob) < 4 or struct.unpack_from("<I", blob)[0] != _VERSION or (len(blob) - 4) % _ENTRY.size:
        raise ValueError("not a POSIX ACL")
    return [_ENTRY.unpack_from(blob, offset) for offset in range(4, len(blob), _ENTRY.size)]


def _from_mode(mode: int) -> list[tuple[int, int, int]]:
    """The minimal ACL a mode is (what a folder without an ACL has)."""
    return [(_USER_OBJ, mode >> 6 & 7, _UNDEFINED), (_GROUP_OBJ, mode >> 3 & 7, _UNDEFINED),
            (_OTHER, mode & 7, _UNDEFINED)]


def _with_denied_group(entries, gid: int) -> list[tuple[int, int, int]]:
    """``entries`` plus ``group:gid:---``, and the mask a named entry needs: the union of the
    group class (as setfacl computes it), so the owning group keeps its access."""
    kept = [e for e in entries if not (e[0] == _GROUP and e[2] == gid) and e[0] != _MASK]
    kept.append((_GROUP, 0, gid))
    mask = 0
    for tag, perm, _ in kept:
        if tag in (_USER, _GROUP_OBJ, _GROUP):
            mask |= perm
    old_mask = [perm for tag, perm, _ in entries if tag == _MASK]
    kept.append((_MASK, old_mask[0] if old_mask else mask, _UNDEFINED))
    return sorted(kept, key=lambda e: (e[0], e[2]))


def denies(folder: str, gid: int) -> bool:
    """Whether ``folder``'s ACL refuses every access to group ``gid``."""
    try:
        entries = _parse(os.getxattr(folder, XATTR))
    except (OSError, ValueError):
        return False
    return (_GROUP, 0, gid) in entries


@functools.cache
def hide(folder: str, gid: int) -> str:
    """Deny group ``gid`` everything below ``folder``: "" when done (or already so), else why not."""
    try:
        try:
            entries = _parse(os.getxattr(folder, XATTR))
        except OSError as err:
            if err.errno != errno.ENODATA:
                raise
            entries = _from_mode(os.stat(folder).st_mode)
        new = _with_denied_group(entries, gid)
        if new != entries:
            os.setxattr(folder, XATTR, struct.pack("<I", _VERSION) + b"".join(_ENTRY.pack(*e) for e in new))
    except ValueError as err:
        return f"{folder}: {err}"
    except OSError as err:
        return f"cannot set an ACL on {folder}: {err.strerror}"
    return "" if denies(folder, gid) else f"the ACL of {folder} did not take"
