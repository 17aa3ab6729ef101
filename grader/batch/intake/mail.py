"""Submissions sent by mail: an mbox file (a Thunderbird folder), a Maildir, a folder of ``.eml``
files, or one ``.eml``. Read with the standard library's ``mailbox`` and ``email`` under
``policy.default``, so RFC 2047 subjects and attachment names arrive decoded.

Each message gives one record per attachment that is a submission archive (by its extension
or its first bytes; pictures and PDFs are not archives), or one ``no-archive`` record. Who: the
subject, read tolerantly (``DLCV-<group>: LASTNAME firstname Lab2``, any case and spacing,
``Re:``/``Fwd:``/``TR:`` prefixes, the group or the name missing), else the archive's name, else
the sender's address. The archive's name is cross-checked with the subject (a mismatch is a
warning). A message that cannot be read (cut short, not mail at all) is a ``bad-message``
record: it costs its own row only.

When: the time the teacher's server received the message, never what the sender wrote. In order:
the date of the topmost ``Received`` header (the last hop prepends it: the teacher's own server;
the ones below it may be forged), else the mbox ``From `` line's date (read in
``lateness.timezone``: it has no zone), else Maildir's delivery time (the leading seconds of its
unique name), and the ``Date`` header only when there is none of them; a record whose time is
not the Received header's says where it came from in its warnings, and a ``Date`` more than an
hour away from the server's time is a warning too. A message forwarded as an attachment
(``message/rfc822``) gives its subject (who it is about), but its sender and time are the
forward's: the inner headers are the forwarder's to write.

Who sent it: ``sender``, the outer message's ``From``, is the record's identity for
``grader.batch.intake.choose`` (a later mail from another address cannot replace a student's archive).

Bounds (the message is the student's): every header is decoded only when it is at most
``MAX_HEADER_CHARS`` long with at most ``MAX_ENCODED_WORDS`` RFC 2047 encoded words
(``email``'s header parser grows faster than linearly with both: 8,000 encoded words took 674 MB),
and at most ``MAX_DECODED_CHARS`` of headers are decoded for one message in all; a message of
more than ``MAX_PARTS`` MIME parts or nested deeper than ``MAX_DEPTH`` is not read either: each
is a ``bad-message`` row that says why. Parsing the MIME structure itself is linear in the bytes.
"""
import email.parser
import mailbox
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email import policy
from email.errors import CloseBoundaryNotFoundDefect, ObsoleteHeaderDefect, StartBoundaryNotFoundDefect
from email.message import EmailMessage, Message, MIMEPart
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from grader import names
from grader.batch.intake import BAD_MESSAGE, NO_ARCHIVE, Handin, files
from grader.errors import UsageError

MAX_HEADER_CHARS = 8 << 10    # one header's raw value (a long legitimate References is a few KB)
MAX_ENCODED_WORDS = 100       # RFC 2047 words in one header (a long subject has a handful)
MAX_DECODED_CHARS = 64 << 10    # header characters decoded for one message, all its parts and reads
MAX_PARTS = 100               # MIME parts of one message (a student's mail has a handful)
MAX_DEPTH = 8                 # nesting of multiparts and attached messages
_ENCODED_WORD = "=?"


class HeaderTooLarge(ValueError):
    """A header over the caps: not decoded (its message is a ``bad-message`` row)."""


class _BoundedPolicy(policy.EmailPolicy):
    """``policy.default`` whose headers are decoded only under the caps: every decoding (the
    parser's own Content-Type reads included) goes through ``header_fetch_parse``. ``budget`` (a
    one-item list, one per message: policies are immutable) counts the characters decoded, so
    that many parts with long headers cannot add up (the parser decodes ~40 KB/s of parameters)."""

    budget: list[int] | None = None

    def header_fetch_parse(self, name, value):
        if len(value) > MAX_HEADER_CHARS:
            raise HeaderTooLarge(f"its {files.shown(name, 40)} header is {len(value)} characters long "
                                 f"(at most {MAX_HEADER_CHARS} are read)")
        if value.count(_ENCODED_WORD) > MAX_ENCODED_WORDS:
            raise HeaderTooLarge(f"its {files.shown(name, 40)} header holds {value.count(_ENCODED_WORD)} "
                                 f"encoded words (at most {MAX_ENCODED_WORDS} are read)")
        if self.budget is not None:
            self.budget[0] -= len(value)
            if self.budget[0] < 0:
                raise HeaderTooLarge(f"its headers are over {MAX_DECODED_CHARS} characters in all")
        return super().header_fetch_parse(name, value)


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


def collect(path: Path, fmt: str, incoming: Path, zone: str = "UTC") -> tuple[list[Handin], list[str]]:
    """Every message of the mailbox at ``path`` as records; notes for the teacher. ``zone``
    (``lateness.timezone``) is the one mbox ``From `` lines are read in."""
    messages = list(_messages(path, fmt, zone))
    if not messages:
        raise UsageError(f"{path} holds no message")
    records, notes = [], []
    for index, (label, data, delivered) in enumerate(messages):
        found = _records(data, label, (index,), incoming, delivered)
        records += found
        if fmt == "mbox" and index == len(messages) - 1 and any(r.status == BAD_MESSAGE for r in found):
            notes.append(f"{path}: its last message is cut short: the mbox file looks truncated "
                         "(copied while it was being written?)")
    return records, notes


def _messages(path: Path, fmt: str, zone: str):
    """``(label, bytes, delivered)`` of each message, in a stable order; ``delivered`` is
    ``(aware datetime, where it was read)`` from the mailbox itself, or None."""
    try:
        if fmt == "mbox":
            mbox = mailbox.mbox(path, factory=None, create=False)
            for n, key in enumerate(mbox.iterkeys(), 1):
                data = mbox.get_bytes(key, from_=True)
                line, _, data = data.partition(b"\n") if data.startswith(b"From ") else (b"", b"", data)
                yield f"{path.name} message {n}", data, _from_line(line, zone)
        elif fmt == "maildir":
            maildir = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(maildir.iterkeys()):
                yield f"{path.name}/{files.shown(key, 80)}", maildir.get_bytes(key), _maildir_time(key)
        else:
            for eml in ([path] if path.is_file() else eml_files(path)):
                yield eml.name, eml.read_bytes(), None
    except (OSError, mailbox.Error) as err:
        raise UsageError(f"cannot read the mailbox {path}: {getattr(err, 'strerror', None) or err}") from None


def _from_line(line: bytes, zone: str):
    """The date of an mbox ``From `` line (``From sender Tue Dec  8 10:00:00 2026``, asctime
    without a zone, as mail servers and Thunderbird write it), read in ``zone``; or None."""
    words = line[:1000].decode("ascii", "replace").split()
    try:
        when = datetime.strptime(" ".join(words[-5:]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return when.replace(tzinfo=ZoneInfo(zone)), "the mbox From line"


def _maildir_time(key: str):
    """Maildir's delivery time: the seconds its unique name starts with (``1733650000.M1P2.host``)."""
    head = key.split(".", 1)[0]
    if not (head.isdigit() and len(head) <= 12):
        return None
    return datetime.fromtimestamp(int(head), timezone.utc), "Maildir's delivery time"


def _header(msg, name: str, limit: int) -> str:
    """A header for display, "" when absent or over the caps (so that a bad-message row is
    still written for it)."""
    try:
        return files.shown(str(msg.get(name, "")), limit)
    except HeaderTooLarge:
        return "(not read: over the caps)"


def _bad(label: str, why: str, order: tuple, msg=None) -> Handin:
    sender = _header(msg, "from", 120) if msg is not None else ""
    subject = _header(msg, "subject", 200) if msg is not None else ""
    return Handin(None, "", None, "mail", sender=sender, subject=subject, status=BAD_MESSAGE,
                      reason=f"{label}: {why}", order=order, fallback=_address(sender) or label)


def _records(data: bytes, label: str, order: tuple, incoming: Path, delivered=None) -> list[Handin]:
    try:
        # The stubs list only EmailPolicy's own keywords, but a policy takes any of its class's
        # attributes as one (how a subclass gets its settings); its message factory makes an
        # EmailMessage, which the stubs cannot see through the subclass either.
        parser = email.parser.BytesParser(policy=_BoundedPolicy(budget=[MAX_DECODED_CHARS]))  # type: ignore[call-overload]
        msg = cast(EmailMessage, parser.parsebytes(data))
    except HeaderTooLarge as err:
        return [_bad(label, f"not read: {err}", order)]
    except Exception as err:  # noqa: BLE001 - any parser failure costs this message only
        return [_bad(label, f"cannot be parsed as mail ({type(err).__name__})", order)]
    try:
        if not any(h in msg for h in ("From", "Date", "Subject")):
            return [_bad(label, "not a mail message (no From, Date or Subject header)", order)]
        too_many = _over_structure(msg)
        if too_many:
            return [_bad(label, f"not read: {too_many}", order, msg)]
        if _cut_short(msg):
            return [_bad(label, "the message is cut short (a MIME part has no end boundary)", order, msg)]
        return _handins(msg, label, order, incoming, delivered)
    except HeaderTooLarge as err:
        return [_bad(label, f"not read: {err}", order, msg)]
    except Exception as err:  # noqa: BLE001 - a malformed header or part costs this message only
        return [_bad(label, f"cannot be read ({type(err).__name__}: {files.shown(str(err), 100)})", order, msg)]


def _over_structure(msg: EmailMessage) -> str:
    """Why the message's MIME tree is over the caps, or "" (walked without decoding a header:
    the parser's payloads are lists for multiparts and attached messages)."""
    parts = 0
    stack: list[tuple[Message, int]] = [(msg, 1)]   # an attached message's payload is a plain Message
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > MAX_PARTS:
            return f"it has more than {MAX_PARTS} MIME parts"
        if depth > MAX_DEPTH:
            return f"its MIME parts are nested more than {MAX_DEPTH} deep"
        payload = part.get_payload()
        if isinstance(payload, list):
            stack += [(p, depth + 1) for p in payload if isinstance(p, Message)]   # all of them
    return ""


def _cut_short(msg: EmailMessage) -> bool:
    return any(isinstance(d, (CloseBoundaryNotFoundDefect, StartBoundaryNotFoundDefect))
               for part in msg.walk() for d in part.defects)


def _address(sender: str) -> str:
    return parseaddr(sender)[1].lower()


def _server_time(msg: EmailMessage):
    """The date of the topmost ``Received`` header (after its last ``;``), aware, or None. Read
    from the raw value (no header decoding), whose length the caps bound."""
    for name, value in msg.raw_items():
        if name.lower() == "received":
            if len(value) > MAX_HEADER_CHARS:
                return None
            try:
                when = parsedate_to_datetime(" ".join(value.rpartition(";")[2].split()))
            except (TypeError, ValueError, IndexError):
                return None
            return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return None


def _envelope(msg: EmailMessage, label: str, delivered=None) -> dict:
    """Who, when and about what, from one message's headers; ``delivered`` is the mailbox's own
    time (``_messages``), used when the message has no readable ``Received`` header."""
    subject = files.shown(str(msg.get("subject", "")), 200)
    sender = files.shown(str(msg.get("from", "")), 120)
    warnings = []
    date = msg.get("date")
    written = getattr(date, "datetime", None) if date is not None else None
    zoneless = written is not None and written.tzinfo is None
    if written is not None and zoneless:
        written = written.replace(tzinfo=timezone.utc)     # RFC 5322's "-0000": the zone is unknown
    received = _server_time(msg)
    if received is None and delivered is not None:
        received, where = delivered
        warnings.append(f"{label}: no readable Received header: received time taken from {where}")
    if received is None and written is not None:
        received = written
        warnings.append(f"{label}: no readable Received header: received time taken from its Date header, "
                        "which the sender writes")
        if zoneless:
            warnings.append(f"{label}: its Date has no time zone: read as UTC")
    elif received is None:
        warnings.append(f"{label}: no Received header and no readable Date header: lateness unknown")
    elif written is not None and abs(written - received) > timedelta(hours=1):
        warnings.append(f"{label}: its Date header says {written.isoformat()}, but it was received at "
                        f"{received.isoformat()}: the received time is used")
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


def _attachments(msg: MIMEPart, env: dict, label: str) -> Iterator[tuple[dict, str, bytes]]:
    """``(envelope, filename, bytes)`` of every attachment, depth first; an attached message
    (``message/rfc822``, a forward as attachment) brings its own subject and names its own From,
    but keeps the forward's sender and time (its headers are the forwarder's to write)."""
    if msg.get_content_type() == "message/rfc822" and msg.is_multipart():
        for inner in msg.iter_parts():
            inner_env = dict(env, subject=files.shown(str(inner.get("subject", "")), 200) or env["subject"],
                             forwarded_from=files.shown(str(inner.get("from", "")), 120))
            yield from _attachments(inner, inner_env, label)
        return
    if msg.is_multipart():
        for part in msg.iter_parts():
            yield from _attachments(part, env, label)
        return
    filename = msg.get_filename()
    if filename is None and msg.get_content_maintype() in ("text", "multipart"):
        return                                              # the message's own text
    data = msg.get_payload(decode=True)     # bytes (None when there is nothing to decode)
    yield env, str(filename or ""), data if isinstance(data, bytes) else b""


def _handins(msg: EmailMessage, label: str, order: tuple, incoming: Path, delivered=None) -> list[Handin]:
    outer = _envelope(msg, label, delivered)
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
    return [Handin(None, "", student, "mail", group=group, received=outer["received"],
                       sender=outer["sender"], subject=outer["subject"], warnings=list(outer["warnings"]),
                       status=NO_ARCHIVE, reason=f"{label}: {why}", order=order,
                       fallback=_address(outer["sender"]) or label, reply=outer["reply"])]


def _record(env: dict, path: Path, name: str, filename: str, order: tuple, label: str) -> Handin:
    group, from_subject = parse_subject(env["subject"])
    from_file = names.parse_name(name)
    warnings = list(env["warnings"])
    if env.get("forwarded_from"):
        warnings.append(f"{label}: forwarded by {env['sender']} (the original from {env['forwarded_from']}): "
                        "the forward's sender and received time are used")
    if from_subject and from_file and from_subject.key != from_file.key:
        warnings.append(f"the archive's name reads as {from_file} but the subject says {from_subject}: "
                        f"graded as {from_subject}")
    if from_subject is None and from_file is None:
        warnings.append(f"{label}: neither the subject nor the archive's name gives the student's name: "
                        "named after the sender")
    if name != filename:
        warnings.append(f"the attachment's name {files.shown(filename, 120)!r} was stored as {name!r}")
    return Handin(path, name, from_subject or from_file, "mail", group=group, received=env["received"],
                      sender=env["sender"], subject=env["subject"], warnings=warnings, order=order,
                      fallback=_address(env["sender"]) or name, reply=env["reply"])
