"""Where submissions arrive, read into one list of plain records for the batch.

``detect(source)`` tells the format of SOURCE from its content, ``collect`` reads it: one
``Handin`` (what a student handed in) per archive found (or per message without one), with who sent it, when, and from
which group. One module per format: ``folder`` (archives directly in a folder, as before),
``mail`` (an mbox file, a Maildir, a folder of ``.eml`` files, or one ``.eml``), ``moodle``
(a "Download all submissions" zip or its unpacked folder, with the grading worksheet when
given). What this package is not: grading, lateness penalties (``grader.batch.lateness``) or the way
back to Moodle (``grader.render.moodle``).

Archives found inside a mail or a Moodle zip are written once into ``OUT/incoming/<source>/``
under a sanitised, bounded name (``files.safe_name``): never a name the student chose used as
a path. Bad input from the teacher (a file that is not a mailbox, a zip that is not a Moodle
download) raises ``UsageError`` with one line naming the file, before any grading; a message
that cannot be read costs its own row only (status ``bad-message``).

A student who sent several times (mail) or uploaded several archives (Moodle) gets one row: the
latest archive received before the group's deadline (or the latest of all when every one is
late); the others are listed in that row's warnings, not graded. Archives of a plain folder are
all graded, as before.

A mail's student is who sent it: records that read as the same student but come from different
sender addresses are never chosen among. Each address gets its own row (the same rule within
it: its own latest archive before the deadline), so a later mail from another address with a
classmate's subject and archive name cannot replace his graded archive; every such row carries a
warning naming the other addresses, for the teacher to decide. The student's own row (the plain
key, ``students/DOE_John/``) is the sender's whose From reads as the student (the display name or
the address holds the student's last and first names), else the earliest sender's; each other
sender's row is ``<key>-from-<its address's slug>``. A student who really wrote from two
addresses gets two rows and the same warning: the teacher keeps one.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from grader import names
from grader.batch import lateness
from grader.batch.intake.worksheet import Worksheet
from grader.errors import UsageError
from grader.results import RowStatus
from grader.rubric import Rubric

SOURCES = ("folder", "mail", "moodle")
# Row statuses of a record with nothing to grade.
NO_ARCHIVE, BAD_MESSAGE = RowStatus.NO_ARCHIVE, RowStatus.BAD_MESSAGE


@dataclass
class Handin:
    """One entry of SOURCE as the intake found it: an archive a student handed in (or a message
    that came without one), with who sent it, when and from which group.

    Named for what it is before any grading: not ``grader.submission.locate.Submission`` (the
    ``lab2/`` package found in an unpacked archive, which is what gets graded), and not a
    ``grader.batch.plan.Archive`` (this entry once the batch has hashed it and given it its folder).
    """
    path: Path | None            # the archive on disk; None for a no-archive or bad-message record
    file: str                    # its name as sent, sanitised (one line, bounded)
    name: names.StudentName | None   # who sent it (subject, Moodle, file name), None when unknown
    source: str                  # folder | mail | moodle
    group: str = ""              # lower-cased group ("thursday"), "" when none was found
    received: datetime | None = None   # aware; None when unknown (a folder of archives)
    participant: str = ""        # Moodle's participant id (the join key with the worksheet)
    moodle_folder: str = ""      # the participant's folder name in Moodle's download
    sender: str = ""             # a mail's From
    subject: str = ""            # a mail's Subject
    warnings: list[str] = field(default_factory=list)
    status: str = ""             # "" (an archive to grade), NO_ARCHIVE or BAD_MESSAGE
    reason: str = ""             # why, for a record without an archive
    order: tuple = ()            # position in SOURCE: the last tie-break, for determinism
    fallback: str = ""           # what names the record when ``name`` is None (file, sender)
    reply: dict = field(default_factory=dict)   # a mail's: what a reply needs (``mail.reply_to``)
    also_from: list[str] = field(default_factory=list)   # other From addresses of mail read as this student
    from_other: str = ""         # set by ``choose``: the address of a sender who is not the student

    @property
    def key(self) -> str:
        key = self.name.key if self.name else names.fallback_key(self.fallback or self.file or "unnamed")
        # Another sender's mail read as this student: a row of its own, never the student's folder.
        return f"{key}-from-{names.fallback_key(self.from_other)}" if self.from_other else key

    @property
    def display(self) -> str:
        return str(self.name) if self.name else (self.file or self.fallback or "unnamed")


@dataclass
class Intake:
    format: str                  # folder | mbox | maildir | eml | moodle
    source: str                  # folder | mail | moodle
    records: list[Handin]
    notes: list[str] = field(default_factory=list)   # for the teacher: what was skipped and why
    worksheet: Worksheet | None = None     # Moodle's grading worksheet, when one was given


def detect(source) -> str:
    """The format of ``source``: ``folder``, ``mbox``, ``maildir``, ``eml`` or ``moodle``.

    Read from the content, not the name: a folder with ``cur/``, ``new/`` and ``tmp/`` is a
    Maildir; a folder whose entries are named like Moodle's participants is a Moodle download; a
    folder of ``.eml`` files is mail; any other folder is a folder of archives. A file starting
    with ``From `` is an mbox, a zip is a Moodle download, headers then a blank line is one
    ``.eml``. Anything else is a ``UsageError``.
    """
    from grader.batch.intake import files, mail, moodle
    path = Path(source)
    if path.is_dir():
        if all((path / d).is_dir() for d in ("cur", "new", "tmp")):
            return "maildir"
        if moodle.looks_like_download(path):
            return "moodle"
        if mail.eml_files(path):
            # Mixed, one format would be silently ignored: the teacher says which.
            stray = sorted(p.name for p in path.iterdir() if p.is_file() and files.archive_extension(p.name))
            if stray:
                raise UsageError(f"{path} holds both .eml messages and archives ({stray[0]}, ...): "
                                 "put them in two folders and grade each")
            return "eml"
        return "folder"
    if not path.exists():
        raise UsageError(f"no such folder or file of submissions: {path}")
    if not path.is_file():
        raise UsageError(f"{path} is neither a folder nor a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    if head.startswith(b"From "):
        return "mbox"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "moodle"
    if mail.looks_like_message(head):
        return "eml"
    if not head:
        raise UsageError(f"{path} is empty: expected a folder of archives, a mailbox or a Moodle download")
    raise UsageError(f"{path} is not a folder of archives, an mbox, an .eml message or a Moodle download zip "
                     "(to grade one archive, use `python -m grader grade`)")


def collect(source, incoming: Path, rubric: Rubric, worksheet=None) -> Intake:
    """Read ``source`` into records; archives from mail and zips are written under ``incoming``.

    ``worksheet`` (a ``grader.batch.intake.worksheet.Worksheet``) is Moodle's only: it gives the
    submission times and groups, and its participants are checked against the download.
    """
    from grader.batch.intake import folder, mail, moodle
    path = Path(source)
    fmt = detect(path)
    if worksheet is not None and fmt != "moodle":
        raise UsageError(f"--moodle-worksheet needs a Moodle download as SOURCE, and {path} is a {fmt} "
                         "(students are matched by Moodle's participant id, never by name)")
    if fmt == "folder":
        return Intake(fmt, "folder", folder.collect(path))
    if fmt in ("mbox", "maildir", "eml"):
        records, notes = mail.collect(path, fmt, incoming / "mail", rubric.lateness.timezone)
        return Intake(fmt, "mail", choose(records, rubric.lateness), notes)
    records, notes = moodle.collect(path, incoming / "moodle", rubric.lateness, worksheet)
    return Intake(fmt, "moodle", choose(records, rubric.lateness), notes, worksheet)


def choose(records: list[Handin], late) -> list[Handin]:
    """One record per student (per participant for Moodle): see the module docstring.

    A ``bad-message`` record is always its own row. The records left out are named in the
    chosen one's warnings. The result is sorted by key and position, whatever the input order.
    """
    groups: dict[tuple, list[Handin]] = {}
    kept = []
    for r in records:
        if r.status == BAD_MESSAGE:
            kept.append(r)
        else:
            groups.setdefault((r.participant or r.key, _address(r)), []).append(r)
    senders: dict[str, list[str]] = {}
    for who, address in groups:
        senders.setdefault(who, []).append(address)
    for who, addresses in senders.items():
        if len(addresses) > 1:
            owner = _owner(who, {a: groups[(who, a)] for a in addresses})
            for a in addresses:
                for r in groups[(who, a)]:
                    r.from_other = a if a != owner else ""
    for (who, address), group in groups.items():
        archives = [r for r in group if r.path is not None and not r.status]
        pool = archives or group
        in_time = [r for r in pool if lateness.on_time(late, r.group, r.received)]
        chosen = max(in_time or pool, key=_when)
        for other in sorted(group, key=_when):
            if other is not chosen:
                chosen.warnings.append(f"also received, not graded: {_describe(other)}"
                                       + (" (too late: an earlier one was before the deadline)"
                                          if other in pool and other not in in_time and in_time else ""))
        others = sorted(a for a in senders[who] if a != address)
        chosen.also_from = [a for a in others if a]   # for grader.mailback's impersonation warning
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            chosen.warnings.append(f"sent from {address or 'no address'}, but {shown} also sent mail "
                                   f"read as {chosen.display}: each address is graded in its own row, "
                                   "none replaces the other: decide which is the student's")
        kept.append(chosen)
    return sorted(kept, key=lambda r: (r.key, r.order))


def _owner(key: str, by_address: dict[str, list[Handin]]) -> str:
    """Which of several senders of mail read as the student ``key`` is the student: the one
    address whose From (display name or address) holds the key's words, else the earliest."""
    words = {w for w in re.split(r"[^a-z]+", key.lower()) if len(w) > 1}

    def reads_as(records):
        text = " ".join(names.fallback_key(r.sender).lower() for r in records)
        return bool(words) and words <= set(re.split(r"[^a-z]+", text))

    consistent = [a for a, records in by_address.items() if reads_as(records)]
    if len(consistent) == 1:
        return consistent[0]
    return min(by_address, key=lambda a: min(_when(r) for r in by_address[a]))


def _address(r: Handin) -> str:
    """The sender's address, lower-cased ("" for what is not mail): the From header's one clean
    address (``mail.reply_to``), else what ``parseaddr`` reads in it."""
    if r.source != "mail":
        return ""
    return (r.reply.get("address") or parseaddr(r.sender)[1]).lower()


def _when(r: Handin) -> tuple:
    return (r.received is not None, r.received or datetime.min, r.order)


def _describe(r: Handin) -> str:
    what = r.file or ("a message without an archive" if r.status == NO_ARCHIVE else "a message")
    when = f" at {lateness.iso(r.received)}" if r.received else ""
    about = f" (subject {r.subject!r})" if r.subject else ""
    return f"{what}{when}{about}"
