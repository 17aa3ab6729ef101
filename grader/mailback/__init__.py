"""``python -m grader mail-back OUT``: after a mail batch, one reply per graded student.

Stages, one module each:
1. ``recipients``: OUT's ``grades.csv`` joined with each ``students/<key>/`` (``mail.json``,
   ``report.json``, ``feedback.md``): one ``Student`` per graded row, or a ``Left`` saying why
   that row gets no mail (no archive, the grader's failure, a From that is not one clean
   address, not from mail). A row whose written parts are not graded yet is held (listed, not
   sent) unless ``pending_ok``.
2. ``compose``: the reply (``EmailMessage``), its Message-ID derived from the student's message
   and the grade it reports.
3. ``deliver``: appended to an mbox of drafts, or sent by SMTP (``dry_run`` unless ``send``).
4. ``journal``: each reply recorded in ``OUT/mail-back/journal.jsonl`` before the next one.

Never twice: a reply whose identity was already delivered (in the journal for SMTP; in the
mbox file itself for drafts) is not written again, so a run that stopped resumes where it
stopped and a second ``--mbox`` run adds nothing. A student whose grade changed after their
reply (``--manual`` merged again, the review app's export) is listed as changed and gets a new
reply only with ``resend``; it says what changed and refers to the earlier one. A recipient or
message the server refuses is that student's error (listed, journaled ``refused``, tried again
next run); a server that goes away stops the run (``Outcome.stopped``).

Who gets the reply: the From address of the mail whose archive was graded, parsed as a
structured header (``grader.batch.intake.mail.reply_to``); never Reply-To, Sender or an address in a
body or a subject. A From with two addresses, two From headers, or one the parser had to repair
(``bob@x <mallory@y>``) gets no reply. A subject names the student graded, not the recipient:
when mail read as one student came from several addresses, or one address sent for several
students, the teacher is warned (``Outcome.warnings``), and each reply still goes only to the
sender of the archive it grades.
"""
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path

from grader import fsutil
from grader.batch import outdir
from grader.batch.outdir import OutDir
from grader.errors import UsageError

from . import compose, deliver, recipients
from .journal import Journal

_OURS = re.compile(r"<lab2\.([0-9a-f]{24})@")


@dataclass
class Planned:
    student: recipients.Student
    identity: str
    changed: list[str] | None = None     # what changed since the earlier reply (a resend), else None
    replaces: str = ""                   # the earlier reply's Message-ID


@dataclass
class Outcome:
    via: str                                            # smtp | mbox
    dry_run: bool
    planned: list[Planned] = field(default_factory=list)     # to send (or sent, unless stopped)
    delivered: list[str] = field(default_factory=list)      # keys sent or drafted by this run
    already: list[str] = field(default_factory=list)        # keys whose reply was delivered before
    changed: list[tuple[str, list[str]]] = field(default_factory=list)   # regraded, not resent
    refused: list[tuple[str, str]] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)            # written parts pending
    left: list[recipients.Left] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stopped: str = ""                                   # why the run stopped before the end


def teacher_address(text: str) -> Address:
    """``--from``: ``"Name <addr>"`` or ``addr``, a deliverable ASCII address."""
    name, addr = parseaddr(str(text))
    if not recipients.deliverable(addr) or any(c in str(text) for c in "\r\n"):
        raise UsageError(f"--from {text!r} is not an address (\"Name <teacher@univ.example>\")")
    return Address(display_name=name, addr_spec=addr)


def _lock(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    return fsutil.locked(folder / outdir.MAIL_BACK_LOCK, exclusive=True,
                         busy=f"another mail-back is running on {folder.parent}")


def _warnings(students: list[recipients.Student]) -> list[str]:
    out = []
    for s in students:
        if s.also_from:
            out.append(f"{s.key}: mail read as this student also came from {', '.join(s.also_from)}; the reply goes "
                       f"only to {s.address}, the sender of the archive graded: check who is who")
    by_address: dict[str, list[str]] = {}
    for s in students:
        by_address.setdefault(s.address.lower(), []).append(s.key)
    for address, keys in sorted(by_address.items()):
        if len(keys) > 1:
            out.append(f"{address} sent the archives graded as {', '.join(keys)}: each gets its reply there")
    return out


def _history(via: str, journal: Journal, channel) -> tuple[set[str], dict[str, dict]]:
    """(identities delivered, key -> the last delivered reply's journal line)."""
    if via == "mbox":
        done, last = set(), {}
        for message_id, key in channel.known().items():
            found = _OURS.match(message_id)
            if not found:
                continue
            done.add(found[1])
            entry = journal.by_message_id(message_id) or {"key": key, "message_id": message_id}
            last[key] = entry
        return done, last
    lines = journal.delivered("smtp")
    return {e.get("identity", "") for e in lines}, {e["key"]: e for e in lines}


def plan(students, via, journal, channel, resend: bool, outcome: Outcome) -> list[Planned]:
    done, last = _history(via, journal, channel)
    todo = []
    for s in students:
        ident = compose.identity(s)
        if ident in done:
            outcome.already.append(s.key)
            continue
        before = last.get(s.key)
        if before is None:
            todo.append(Planned(s, ident))
            continue
        titles = {q.id: q.title for q in s.report.questions}
        what = compose.changes(before.get("grade") or {}, s.grade(), titles) or ["the grade was revised"]
        if resend:
            todo.append(Planned(s, ident, what, str(before.get("message_id", ""))))
        else:
            outcome.changed.append((s.key, what))
    return todo


def _progress_bar(total: int, progress):
    from tqdm import tqdm
    show = progress == "force" or (bool(progress) and sys.stderr.isatty())
    return tqdm(total=total, desc="replies", unit="mail", file=sys.stderr, disable=not show, dynamic_ncols=True)


def run(out, *, sender: str, mbox=None, smtp: str | None = None, security: str = "starttls", cafile=None,
        send: bool = False, resend: bool = False, pause: float = 2.0, pending_ok: bool = False,
        progress=True, clock=None) -> Outcome:
    """Reply to every graded student of the mail batch in ``out``; see the module docstring.

    Exactly one of ``mbox`` (a file of drafts) and ``smtp`` (``HOST:PORT``). With ``smtp`` and
    not ``send``, nothing is sent or written: the outcome says what would be. ``pause``: seconds
    between two messages sent. ``clock``: the replies' Date (default: now). Raises
    ``UsageError`` for bad options or an OUT without a batch, ``KeyboardInterrupt`` after
    recording what was sent.
    """
    out = Path(out)
    if (mbox is None) == (smtp is None):
        raise UsageError("give one of --mbox FILE (drafts to import) or --smtp HOST:PORT (send)")
    teacher = teacher_address(sender)
    via = "mbox" if mbox is not None else "smtp"
    if via == "smtp":
        host, _, port = str(smtp).rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--smtp {smtp!r}: expected HOST:PORT (smtp.univ.example:587)")
        channel: deliver.Smtp | deliver.Mbox = deliver.Smtp(host.strip("[]"), int(port), security, cafile)
    else:
        channel = deliver.Mbox(Path(mbox))
    recipients.read_csv(out)     # no batch there: one line, before anything is written
    with _batch_idle(out), _lock(OutDir(out).mail_back):
        return _run(out, teacher, via, channel, not send, resend, pending_ok, pause, progress, clock)


def _batch_idle(out: Path):
    """Held while OUT is read and replies go out: a batch writing OUT meanwhile could change a
    grade under the reply (``grader.batch.run`` takes this lock exclusively)."""
    return fsutil.locked(OutDir(out).lock, exclusive=False,
                         busy=f"a batch is writing to {out}: wait for it to finish")


def _run(out, teacher, via, channel, dry_run, resend, pending_ok, pause, progress, clock) -> Outcome:
    students, left = recipients.read(out)
    outcome = Outcome(via, via == "smtp" and dry_run, left=left, warnings=_warnings(students))
    ready = []
    for s in students:
        pending = [q.id for q in s.report.questions if q.manual_pending and not q.bonus]
        if pending and not pending_ok:
            outcome.held.append((s.key, "written parts not graded yet: " + ", ".join(pending)))
        else:
            ready.append(s)
    journal = Journal(OutDir(out).mail_back)
    outcome.planned = plan(ready, via, journal, channel, resend, outcome)
    if outcome.dry_run or not outcome.planned:
        return outcome
    _deliver(outcome, channel, journal, teacher, pause, progress, clock)
    return outcome


def _deliver(outcome: Outcome, channel, journal: Journal, teacher: Address, pause: float, progress, clock) -> None:
    bar = _progress_bar(len(outcome.planned), progress)
    try:
        for n, p in enumerate(outcome.planned):
            if n and outcome.via == "smtp" and pause > 0:
                time.sleep(pause)       # a server that sees 100 mails in a second may take them for spam
            s = p.student
            when = clock() if clock else datetime.now(timezone.utc).astimezone()
            msg = compose.reply(s, teacher, when, changed=p.changed, replaces=p.replaces)
            entry = {"key": s.key, "identity": p.identity, "message_id": msg["Message-ID"],
                     "in_reply_to": s.message_id, "to": s.address, "via": outcome.via, "at": when.isoformat(),
                     "grade": s.grade()}
            try:
                result = channel.send(msg, s.address)
            except deliver.Refused as err:
                journal.append({**entry, "result": "refused", "detail": str(err)})
                outcome.refused.append((s.key, str(err)))
            except deliver.Gone as err:
                outcome.stopped = str(err)
                break
            else:
                journal.append({**entry, "result": result, "detail": ""})
                outcome.delivered.append(s.key)
            bar.update(1)
    except KeyboardInterrupt:
        outcome.stopped = "interrupted"
        raise
    finally:
        bar.close()
        channel.close()


def lines(outcome: Outcome) -> tuple[list[str], list[str]]:
    """What the command prints: ``(stdout lines, stderr warnings)``, student text escaped."""
    from grader.render.neutralise import terminal

    def t(x) -> str:
        return terminal(x, newlines=False)

    out, err = [], [f"warning: {t(w)}" for w in outcome.warnings]
    if outcome.dry_run:
        out.append(f"dry run: {len(outcome.planned)} replies would be sent (add --send to send them):")
        for p in outcome.planned:
            s = p.student
            again = " (again: " + "; ".join(p.changed) + ")" if p.changed is not None else ""
            out.append(f"  {s.key} -> {t(s.address)}: {t(compose.subject(s))} "
                       f"[total {t(s.row.get('total'))}]{t(again)}")
    for key, what in outcome.changed:
        err.append(f"warning: {key}: the grade changed since the reply delivered ({t('; '.join(what))}): "
                   "--resend sends a new one")
    for key, why in outcome.refused:
        err.append(f"warning: {key}: {t(why)}")
    for key, why in outcome.held:
        err.append(f"warning: {key}: held, no reply yet: {t(why)} (grade them, or --pending-ok)")
    for left in outcome.left:
        err.append(f"not mailed: {t(left.who)}: {t(left.why)}")
    done = "would be sent" if outcome.dry_run else ("drafted" if outcome.via == "mbox" else "sent")
    count = len(outcome.planned) if outcome.dry_run else len(outcome.delivered)
    summary = (f"{count} replies {done}, {len(outcome.already)} already delivered, {len(outcome.changed)} changed "
               f"(not resent), {len(outcome.refused)} refused, {len(outcome.held)} held, "
               f"{len(outcome.left)} not mailed")
    if outcome.stopped:
        rest = len(outcome.planned) - len(outcome.delivered) - len(outcome.refused)
        err.append(f"error: {t(outcome.stopped)}: {rest} replies not sent yet; run the same command again to "
                   "send the rest")
    out.append(summary)
    return out, err
