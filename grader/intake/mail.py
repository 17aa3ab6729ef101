"""Submissions sent by mail: an mbox file (a Thunderbird folder), a Maildir, a folder of ``.eml``
files, or one ``.eml``. Read with the standard library's ``mailbox`` and ``email`` under
``policy.default``, so RFC 2047 subjects and attachment names arrive decoded.

Each message gives one record per attachment that is a submission archive (by its extension
or its first bytes; pictures and PDFs are not archives), or one ``no-archive`` record. Who: the
subject, read tolerantly (``DLCV-<group>: LASTNAME firstname Lab2``, any case and spacing,
``Re:``/``Fwd:``/``TR:`` prefixes, the group or the name missing), else the archive's name, else
the sender's address. The archive's name is cross-checked with the subject (a mismatch is a
warning). When: the ``Date`` header (a forwarded message attached as ``message/rfc822`` gives
its own Date and From). A message that cannot be read (cut short, not mail at all) is a
``bad-message`` record: it costs its own row only.
"""
import email.parser
import mailbox
import re
from datetime import timezone
from email import policy
from email.errors import CloseBoundaryNotFoundDefect, ObsoleteHeaderDefect, StartBoundaryNotFoundDefect
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from grader import UsageError, names
from grader.intake import BAD_MESSAGE, NO_ARCHIVE, Submission, files

_PARSER = email.parser.BytesParser(policy=policy.default)
# Reply and forward prefixes in the languages students write in, any number of them, and
# mailing-list tags such as "[dlcv]".
_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|tr|aw|wg|sv|vs|rv|rif|enc)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*|\[[^\]]*\]\s*)+",
                     re.IGNORECASE)
_DASH = "-_\u2010\u2011\u2012\u2013\u2014"
_WITH_COLON = re.compile(rf"^dlcv\s*[{_DASH}]?\s*(?P<group>[^\W\d_]+)\s*:\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_WITH_DASH = re.compile(rf"^dlcv\s*[{_DASH}]\s*(?P<group>[^\W\d_]+)\b\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_BARE = re.compile(rf"^dlcv\s*[{_DASH}:]?\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_DAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"}


def eml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".eml" and not p.name.startswith(".")
                  and p.is_file())


def looks_like_message(head: bytes) -> bool:
    """Header lines (``Name: value``) from the first line, as a saved ``.eml`` starts."""
    first = head.split(b"\n", 1)[0]
    return bool(re.match(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]?\S", first))


def parse_subject(subject: str) -> tuple[str, names.StudentName | None]:
    """``(group, name)`` from a subject; the group lower-cased, ``""`` when absent.

    >>> parse_subject("Fwd: DLCV-thursday: DOE John Lab2")
    ('thursday', StudentName(last='DOE', first='John', key='DOE_John'))
    """
    text = _PREFIX.sub("", " ".join(str(subject).split()))
    group, rest = "", text
    m = _WITH_COLON.match(text)
    if m:
        group, rest = m["group"].lower(), m["rest"]
    elif (m := _WITH_DASH.match(text)) and m["group"].lower() in _DAYS:
        group, rest = m["group"].lower(), m["rest"]
    elif m := _BARE.match(text):
        rest = m["rest"]
    rest = rest.replace("/", " ").replace("\\", " ")
    return group, names.parse_name(rest)


def collect(path: Path, fmt: str, incoming: Path) -> tuple[list[Submission], list[str]]:
    """Every message of the mailbox at ``path`` as records; notes for the teacher."""
    messages = list(_messages(path, fmt))
    if not messages:
        raise UsageError(f"{path} holds no message")
    records, notes = [], []
    for index, (label, data) in enumerate(messages):
        found = _records(data, label, (index,), incoming)
        records += found
        if fmt == "mbox" and index == len(messages) - 1 and any(r.status == BAD_MESSAGE for r in found):
            notes.append(f"{path}: its last message is cut short: the mbox file looks truncated "
                         "(copied while it was being written?)")
    return records, notes


def _messages(path: Path, fmt: str):
    """``(label, bytes)`` of each message, in a stable order."""
    try:
        if fmt == "mbox":
            box = mailbox.mbox(path, factory=None, create=False)
            for n, key in enumerate(box.iterkeys(), 1):
                yield f"{path.name} message {n}", box.get_bytes(key)
        elif fmt == "maildir":
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.iterkeys()):
                yield f"{path.name}/{files.shown(key, 80)}", box.get_bytes(key)
        else:
            for eml in ([path] if path.is_file() else eml_files(path)):
                yield eml.name, eml.read_bytes()
    except (OSError, mailbox.Error) as err:
        raise UsageError(f"cannot read the mailbox {path}: {getattr(err, 'strerror', None) or err}") from None


def _bad(label: str, why: str, order: tuple, msg=None) -> Submission:
    sender = files.shown(str(msg.get("from", "")), 120) if msg is not None else ""
    subject = files.shown(str(msg.get("subject", "")), 200) if msg is not None else ""
    return Submission(None, "", None, "mail", sender=sender, subject=subject, status=BAD_MESSAGE,
                      reason=f"{label}: {why}", order=order, fallback=_address(sender) or label)


def _records(data: bytes, label: str, order: tuple, incoming: Path) -> list[Submission]:
    try:
        msg = _PARSER.parsebytes(data)
    except Exception as err:  # noqa: BLE001 - any parser failure costs this message only
        return [_bad(label, f"cannot be parsed as mail ({type(err).__name__})", order)]
    try:
        if not any(h in msg for h in ("From", "Date", "Subject")):
            return [_bad(label, "not a mail message (no From, Date or Subject header)", order)]
        if _cut_short(msg):
            return [_bad(label, "the message is cut short (a MIME part has no end boundary)", order, msg)]
        return _submissions(msg, label, order, incoming)
    except Exception as err:  # noqa: BLE001 - a malformed header or part costs this message only
        return [_bad(label, f"cannot be read ({type(err).__name__}: {files.shown(str(err), 100)})", order, msg)]


def _cut_short(msg: EmailMessage) -> bool:
    return any(isinstance(d, (CloseBoundaryNotFoundDefect, StartBoundaryNotFoundDefect))
               for part in msg.walk() for d in part.defects)


def _address(sender: str) -> str:
    return parseaddr(sender)[1].lower()


def _envelope(msg: EmailMessage, label: str) -> dict:
    """Who, when and about what, from one message's headers."""
    subject = files.shown(str(msg.get("subject", "")), 200)
    sender = files.shown(str(msg.get("from", "")), 120)
    warnings = []
    received = None
    date = msg.get("date")
    when = getattr(date, "datetime", None) if date is not None else None
    if when is None:
        warnings.append(f"{label}: no readable Date header: lateness unknown")
    elif when.tzinfo is None:
        received = when.replace(tzinfo=timezone.utc)     # RFC 5322's "-0000": the zone is unknown
        warnings.append(f"{label}: its Date has no time zone: read as UTC")
    else:
        received = when
    return {"subject": subject, "sender": sender, "received": received, "warnings": warnings,
            "reply": reply_to(msg)}


def reply_to(msg: EmailMessage) -> dict:
    """What a reply to this message needs (``grader.mailback``): its From address, parsed as a
    structured header, and its ``Message-ID`` and ``References`` as found (checked when used).

    ``address`` is ``""`` and ``problem`` says why when From is not exactly one clean address: no
    From, two From headers or two addresses in one, or a header the parser had to repair (``bob@x
    <mallory@y>`` parses as bob@x with a defect). Reply-To, Sender and the body are never read.
    Never raises: an unreadable header costs the reply only, never the grade.
    """
    found = {"address": "", "name": "", "problem": "", "message_id": "", "references": "", "subject": ""}
    try:
        found["subject"] = files.shown(str(msg.get("subject", "")), 200)
        found["message_id"] = files.shown(str(msg.get("message-id", "")), 300)
        found["references"] = files.shown(str(msg.get("references", "")), 4000)
        headers = msg.get_all("from") or []
        if len(headers) != 1:
            found["problem"] = "no From header" if not headers else f"{len(headers)} From headers"
            return found
        addresses = headers[0].addresses
        repaired = [d for d in headers[0].defects if not isinstance(d, ObsoleteHeaderDefect)]
        if len(addresses) != 1 or repaired:
            found["problem"] = f"its From header is not one clean address ({files.shown(str(headers[0]), 120)!r})"
            return found
        found["address"] = str(addresses[0].addr_spec)
        found["name"] = files.shown(str(addresses[0].display_name), 120)
    except Exception as err:  # noqa: BLE001 - see the docstring
        found["problem"] = f"its headers cannot be read for a reply ({type(err).__name__})"
    return found


def _attachments(msg: EmailMessage, env: dict, label: str):
    """``(envelope, filename, bytes)`` of every attachment, depth first; an attached message
    (``message/rfc822``, a forward as attachment) brings its own envelope."""
    if msg.get_content_type() == "message/rfc822" and msg.is_multipart():
        for inner in msg.iter_parts():
            inner_env = _envelope(inner, label)
            inner_env["forwarded_by"] = env["sender"]
            inner_env["reply"] = env["reply"]      # a reply answers the mail the teacher received
            yield from _attachments(inner, inner_env if inner_env["received"] else env, label)
        return
    if msg.is_multipart():
        for part in msg.iter_parts():
            yield from _attachments(part, env, label)
        return
    filename = msg.get_filename()
    if filename is None and msg.get_content_maintype() in ("text", "multipart"):
        return                                              # the message's own text
    data = msg.get_payload(decode=True) or b""
    yield env, str(filename or ""), data


def _submissions(msg: EmailMessage, label: str, order: tuple, incoming: Path) -> list[Submission]:
    outer = _envelope(msg, label)
    found, others = [], []
    for n, (env, filename, data) in enumerate(_attachments(msg, outer, label)):
        if not files.looks_like_archive(filename, data[:512]):
            others.append(files.shown(filename, 60) or "(unnamed)")
            continue
        name = files.safe_name(filename, default=f"attachment-{n + 1}")
        path = files.write_once(incoming, name, data)
        found.append(_record(env, path, name, filename, order + (n,), label))
    if found:
        return found
    group, student = parse_subject(outer["subject"])
    why = "no archive attached" + (f" (attachments: {', '.join(others)})" if others else "")
    return [Submission(None, "", student, "mail", group=group, received=outer["received"],
                       sender=outer["sender"], subject=outer["subject"], warnings=list(outer["warnings"]),
                       status=NO_ARCHIVE, reason=f"{label}: {why}", order=order,
                       fallback=_address(outer["sender"]) or label, reply=outer["reply"])]


def _record(env: dict, path: Path, name: str, filename: str, order: tuple, label: str) -> Submission:
    group, from_subject = parse_subject(env["subject"])
    from_file = names.parse_name(name)
    warnings = list(env["warnings"])
    if env.get("forwarded_by"):
        warnings.append(f"{label}: forwarded by {env['forwarded_by']}; the original's sender and date are used")
    if from_subject and from_file and from_subject.key != from_file.key:
        warnings.append(f"the archive's name reads as {from_file} but the subject says {from_subject}: "
                        f"graded as {from_subject}")
    if from_subject is None and from_file is None:
        warnings.append(f"{label}: neither the subject nor the archive's name gives the student's name: "
                        "named after the sender")
    if name != filename:
        warnings.append(f"the attachment's name {files.shown(filename, 120)!r} was stored as {name!r}")
    return Submission(path, name, from_subject or from_file, "mail", group=group, received=env["received"],
                      sender=env["sender"], subject=env["subject"], warnings=warnings, order=order,
                      fallback=_address(env["sender"]) or name, reply=env["reply"])
