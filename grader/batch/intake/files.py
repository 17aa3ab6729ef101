"""Hostile file names made safe, and archives written once: what every intake shares.

An attachment's file name and a zip member's name are chosen by a student (or by whoever sent
the mail): they may hold ``/``, ``..``, control characters, a thousand characters, or nothing
at all. ``safe_name`` turns any of them into one bounded path component; ``write_once`` stores
an archive's bytes under ``<folder>/<sha256 prefix>/<safe name>``, so the same bytes sent under
the same name always land on the same path (a re-run writes nothing and regrades nothing).
"""
import hashlib
import re
import unicodedata
from pathlib import Path

from grader import fsutil

MAX_NAME_BYTES = 120
_EXTENSIONS = (".tar.bz2", ".tar.gz", ".tar.xz", ".tar.zst", ".tbz2", ".tbz", ".tgz", ".txz", ".tar",
               ".bz2", ".gz", ".xz", ".zst", ".zip", ".7z", ".rar")
_UNSAFE = re.compile(r"[^\w .,()+@'&-]+")


def shown(text: object, limit: int = 200) -> str:
    """Any text as one printable line of at most ``limit`` characters (for messages and CSV)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def archive_extension(name: str) -> str:
    """The archive extension ``name`` ends with (``.tar.bz2``), or ``""``."""
    lower = name.lower()
    return next((ext for ext in _EXTENSIONS if lower.endswith(ext)), "")


def looks_like_archive(name: str, head: bytes) -> bool:
    """A submission archive by its name's extension or by its first bytes."""
    if archive_extension(name):
        return True
    return (head[:3] == b"BZh" or head[:2] == b"\x1f\x8b" or head[:6] == b"\xfd7zXZ\x00"
            or head[:4] == b"PK\x03\x04" or head[257:262] == b"ustar")


def safe_name(name: str, default: str = "attachment") -> str:
    """One path component from any name: the last part after ``/`` or ``\\``, NFC, every
    character outside letters, digits and ``space . , ( ) + @ ' & - _`` replaced by ``_``, no
    leading dot or space (no hidden file, no ``..``), at most ``MAX_NAME_BYTES`` bytes of UTF-8
    with the archive extension kept; ``default`` when nothing is left."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_UNSAFE.sub("_", name).split()).lstrip(". ")
    if not name.strip("._ "):
        return default
    ext = archive_extension(name)
    stem = name[: len(name) - len(ext)] if ext else name
    budget = MAX_NAME_BYTES - len(ext.encode())
    stem = stem.encode()[:budget].decode("utf-8", "ignore").rstrip(". ") or default
    return stem + ext


def write_once(folder: Path, name: str, data: bytes) -> Path:
    """Store ``data`` as ``folder/<sha256[:16]>/<name>`` unless it is already there; the path."""
    target = folder / hashlib.sha256(data).hexdigest()[:16] / name
    target.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(target, data, if_changed=True)
    return target
