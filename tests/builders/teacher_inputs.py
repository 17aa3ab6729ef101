"""Builders of what a teacher hands the batch, made at test time with the standard library:
mail (``email.message.EmailMessage`` into an mbox, a Maildir, ``.eml`` files), Moodle's
"Download all submissions" zip in its three layouts (or unpacked), and Moodle's grading
worksheet in English and French, quoted as Moodle (PHP's ``fputcsv``) writes it.
"""
import mailbox
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

# --- mail -------------------------------------------------------------------------------------

@dataclass
class Mail:
    subject: str
    sender: str
    date: datetime | None
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    raw_subject: str | None = None      # a pre-encoded (RFC 2047) Subject header, as written
    # When the teacher's server received it (its Received header, and an mbox's From line): by
    # default ``date``, as for a mail sent on the spot; ``server=False`` writes no Received header.
    received: datetime | None = None
    server: bool = True
    from_line: datetime | None = None   # an mbox From line's time when it is not the server's
    extra_headers: list[tuple[str, str]] = field(default_factory=list)   # below the server's Received

    @property
    def server_time(self) -> datetime | None:
        return (self.received or self.date) if self.server else None


def message(mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    if mail.server_time is not None:
        msg["Received"] = (f"from client.etu.example by mx.univ.example with ESMTPS id 4Qx; "
                           f"{format_datetime(mail.server_time)}")
    for name, value in mail.extra_headers:   # below the server's: what the sender wrote
        msg[name] = value
    msg["From"] = mail.sender
    msg["To"] = "teacher@univ.example"
    if mail.raw_subject is None:
        msg["Subject"] = mail.subject
    if mail.date is not None:
        msg["Date"] = format_datetime(mail.date)
    msg["Message-ID"] = f"<{abs(hash((mail.subject, mail.sender, str(mail.date))))}@test>"
    msg.set_content("Hello, here is my lab.\n")
    for name, data in mail.attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    data = msg.as_bytes()
    if mail.raw_subject is not None:
        # The header as a mail client encodes it, kept verbatim (RFC 2047 encoded word).
        data = f"Subject: {mail.raw_subject}\n".encode() + data
        from email import message_from_bytes, policy
        return message_from_bytes(data, policy=policy.default)
    return msg


def write_mbox(path: Path, mails: list[Mail]) -> Path:
    box = mailbox.mbox(path)
    for mail in mails:
        entry = mailbox.mboxMessage(message(mail))
        line_time = mail.from_line or mail.server_time
        if line_time is not None:   # the From line as the server wrote it: its time, in UTC
            entry.set_from("MAILER-DAEMON", line_time.astimezone(timezone.utc).timetuple())
        box.add(entry)
    box.flush()
    box.close()
    return path


def write_maildir(path: Path, mails: list[Mail]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for mail in mails:
        box.add(message(mail))
    box.close()
    return path


def write_eml_folder(path: Path, mails: list[Mail]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for n, mail in enumerate(mails):
        (path / f"message {n:02d}.eml").write_bytes(message(mail).as_bytes())
    return path


# --- Moodle -----------------------------------------------------------------------------------

@dataclass
class Participant:
    pid: int
    fullname: str
    files: dict[str, bytes]                 # original file name -> bytes
    submitted: str = "-"                    # the worksheet's "Last modified (submission)"
    email: str = ""
    group: str = ""
    online_text: str = ""


LAYOUTS = ("folder_", "folder", "flat")    # Moodle 3.1-4.0, 4.1+, before 3.1 / unticked
ZIP_TIME = (2026, 12, 10, 18, 30, 0)


def entry_prefix(p: Participant) -> str:
    return f"{p.fullname}_{p.pid}"


def moodle_entries(participants: list[Participant], layout: str) -> dict[str, bytes]:
    entries = {}
    for p in participants:
        prefix = entry_prefix(p)
        for name, data in p.files.items():
            if layout == "folder_":
                entries[f"{prefix}_assignsubmission_file_/{name}"] = data
            elif layout == "folder":
                entries[f"{prefix}_assignsubmission_file/{name}"] = data
            else:
                entries[f"{prefix}_assignsubmission_file_{name}"] = data
        if p.online_text:
            sep = "_" if layout == "flat" else "/"
            entries[f"{prefix}_assignsubmission_onlinetext{sep}onlinetext.html"] = p.online_text.encode()
    return entries


def write_moodle_zip(path: Path, participants: list[Participant], layout: str = "folder") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in moodle_entries(participants, layout).items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data)
    return path


def write_moodle_folder(path: Path, participants: list[Participant], layout: str = "folder") -> Path:
    for name, data in moodle_entries(participants, layout).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


EN = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade", "Grade can be changed",
      "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments")
FR = ("Identifiant", "Nom complet", "Adresse de courriel", "Statut", "Note", "Note maximale",
      "La note peut être modifiée", "Dernière modification (travail remis)", "Texte en ligne",
      "Dernière modification (note)", "Feedback par commentaires")


def php_cell(value: str) -> str:
    """A cell as PHP's fputcsv writes it: quoted when it holds a space, comma, quote or line end."""
    if any(c in value for c in ' ,"\r\n\t'):
        return '"' + value.replace('"', '""') + '"'
    return value


def worksheet_lines(participants: list[Participant], lang: str = "en", max_grade: str = "20.00",
                    group: bool = False, feedback: bool = True, extra_rows: list[tuple] = ()) -> list[list[str]]:
    """The worksheet as rows of *raw* cells (already quoted), header first; ``Grade`` is column 4
    and the feedback the last column. Tests assemble them with ``assemble``."""
    header = list(EN if lang == "en" else FR)
    if group:
        header.insert(4, "Group" if lang == "en" else "Groupe")
    if not feedback:
        header.pop()
    rows = [[php_cell(h) for h in header]]
    word = "Participant " if lang == "en" else "Participant"
    for p in participants:
        status = "Submitted for grading" if lang == "en" else "Remis pour évaluation"
        cells = [f"{word}{p.pid}", p.fullname, p.email or f"{p.pid}@univ.example", status, "", max_grade,
                 "Yes" if lang == "en" else "Oui", p.submitted, "my notes,\nsecond line", "-", ""]
        if group:
            cells.insert(4, p.group)
        if not feedback:
            cells.pop()
        rows.append([php_cell(c) for c in cells])
    rows += [[php_cell(c) for c in r] for r in extra_rows]
    return rows


def assemble(rows: list[list[str]], bom: bool = True, newline: str = "\n") -> bytes:
    return (("\ufeff" if bom else "") + "".join(",".join(r) + newline for r in rows)).encode("utf-8")


def write_worksheet(path: Path, participants: list[Participant], **kw) -> Path:
    bom, newline = kw.pop("bom", True), kw.pop("newline", "\n")
    path.write_bytes(assemble(worksheet_lines(participants, **kw), bom, newline))
    return path


# --- hostile mail (issue 22, finding 5): raw bytes, never through ``email`` (which would parse) --

_HEAD = ("Received: from client by mx.univ.example; Thu, 10 Dec 2026 20:00:00 +0100\n"
         "Date: Thu, 10 Dec 2026 20:00:00 +0100\nMIME-Version: 1.0\n")


def _raw(headers: str, body: str = "Content-Type: text/plain\n\nhello\n", sender="eve@etu.example") -> bytes:
    return (_HEAD + f"From: {sender}\n" + headers + body).encode()


def _nested(depth: int) -> str:
    body = "Content-Type: text/plain\n\nhello\n"
    for n in range(depth):
        body = f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n{body}\n--b{n}--\n'
    return body


def hostile_mails() -> dict[str, bytes]:
    """``name -> message bytes``: each one built to take the mail parser's memory or time."""
    words = " ".join(["=?utf-8?q?DOE_John?="] * 8000)                      # 160 KB: 674 MB before
    params = "; ".join(f"p{i}=v" for i in range(700))                      # 6.5 KB
    return {
        "8,000 encoded words in the Subject": _raw(f"Subject: {words}\n"),
        "50,000 encoded words, folded": _raw("Subject: " + "\n ".join(["=?utf-8?b?RE9F?="] * 50000) + "\n"),
        "150 encoded words in 3 KB": _raw("Subject: " + " ".join(["=?utf-8?q?D?="] * 150) + "\n"),
        "a From of 10,000 addresses": _raw("Subject: DLCV-thursday: DOE John Lab2\n",
                                           sender=", ".join(f"a{i}@x.example" for i in range(10000))),
        "a Content-Type of 10,000 parameters": _raw(
            "Subject: x\n", 'Content-Type: multipart/mixed; boundary="b"; '
            + "; ".join(f"p{i}=v" for i in range(10000)) + "\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n"),
        "100 parts of 6.5 KB headers": _raw("Subject: x\n", 'Content-Type: multipart/mixed; boundary="b"\n\n'
                                           + ("--b\nContent-Type: text/plain; " + params + "\n\nx\n") * 99
                                           + "--b--\n"),
        "300 MIME parts": _raw("Subject: x\n", 'Content-Type: multipart/mixed; boundary="b"\n\n'
                                 + "--b\nContent-Type: text/plain\n\nx\n" * 300 + "--b--\n"),
        "MIME parts nested 200 deep": _raw("Subject: x\n", _nested(200)),
    }


def write_raw_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mbox of raw messages, each behind a From line of the server's time."""
    with open(path, "wb") as f:
        for data in messages:
            f.write(b"From MAILER-DAEMON Thu Dec 10 19:00:00 2026\n" + data.rstrip(b"\n") + b"\n\n")
    return path
