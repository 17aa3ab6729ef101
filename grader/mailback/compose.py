"""One reply as an ``email.message.EmailMessage``: headers, a short plain-text body, attachments.

- To: the From of the mail whose archive was graded (``recipients.Student.address``), with that
  From's display name; never Reply-To or an address from a body.
- Subject ``Re: <their subject>``, ``In-Reply-To`` their Message-ID and ``References`` theirs
  plus it (plus the earlier reply a ``--resend`` replaces): the reply sits in their thread.
- Message-ID ``<lab2.<identity>@<the sender's domain>>``: ``identity(student)`` is a hash of
  the student's folder, the message answered and the grade reported (``Student.grade``), so the
  same reply has the same Message-ID in every run and every output, and a new grade a new one.
- The body: the total, the points per question, the mistakes named, lateness; ``feedback.md``
  (and ``feedback.html`` where there is one) attached under a name with the student's name.

Every student string that reaches a header or the body (names, subject, file name, messages)
is one printable line, bounded (``files.shown``), and headers are set through ``EmailMessage``,
which refuses CR/LF in a value and encodes non-ASCII names (RFC 2047) and file names (RFC 2231).
"""
import hashlib
import json
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from grader.batch import outdir
from grader.batch.intake.files import safe_name, shown
from grader.render.common import pts
from grader.results import QuestionStatus, RowStatus
from lab2check.mistakes import ADVICE

from .recipients import Student

STUDENT_HEADER = "X-Lab2-Student"     # the folder key, so a draft or a sent copy says whose it is


def identity(student: Student) -> str:
    """24 hex digits naming this reply: the folder, the message answered, the grade."""
    answered = student.message_id or student.row.get("sha256", "")
    data = json.dumps([student.key, answered, student.grade()], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def message_id(student: Student, sender: Address) -> str:
    return f"<lab2.{identity(student)}@{sender.domain}>"


def subject(student: Student) -> str:
    text = shown(student.subject, 200) or "Lab 2"
    return text if text[:3].lower() == "re:" else f"Re: {text}"


def changes(before: dict, now: dict, titles: dict[str, str]) -> list[str]:
    """What differs between two ``Student.grade()``, in sentences (for ``--resend``)."""
    out = []
    if before.get("status") != now.get("status"):
        out.append(f"status: {before.get('status') or '-'} -> {now.get('status') or '-'}")
    if before.get("total") != now.get("total"):
        out.append(f"total: {before.get('total') or '-'} -> {now.get('total') or '-'} / {now.get('total_max')}")
    if before.get("bonus") != now.get("bonus"):
        out.append(f"bonus: {before.get('bonus') or '-'} -> {now.get('bonus') or '-'}")
    if before.get("late_days") != now.get("late_days"):
        out.append(f"days late: {before.get('late_days') or '-'} -> {now.get('late_days') or '-'}")
    old, new = before.get("points", {}), now.get("points", {})
    for qid in sorted(set(old) | set(new)):
        if old.get(qid) != new.get(qid):
            name = f"{qid} {titles.get(qid, '')}".strip()
            out.append(f"{name}: {old.get(qid) or '-'} -> {new.get(qid) or '-'}")
    if before.get("feedback_sha256") != now.get("feedback_sha256") and not out:
        out.append(f"the written feedback ({outdir.FEEDBACK_MD}) was revised")
    return out


def body(student: Student, changed: list[str] | None = None) -> str:
    """The plain-text body: short, everything else is in the attached feedback."""
    report, row = student.report, student.row
    lines = ["Hello,", ""]
    if changed is not None:
        lines += ["This replaces the earlier reply about your Lab 2: the grade was revised.", "What changed:"]
        lines += [f"  - {c}" for c in changed] + [""]
    file = shown(row.get("file", ""), 120)
    received = shown(row.get("received", ""), 40)
    lines.append(f"Your Lab 2 archive {file!r}" + (f", received {received}," if received else "")
                 + f" was graded as {shown(student.display, 120)}.")
    lines.append("")
    total = f"Total: {row.get('total')} / {pts(report.total_max)}"
    if row.get("bonus") not in ("", "0"):
        total += f", bonus {row.get('bonus')}"
    lines.append(total)
    if report.penalty:
        lines.append(f"Naming penalty: -{pts(report.penalty)}")
    if report.lateness:
        lines.append(shown(report.lateness, 300))
    if row.get("status") != RowStatus.GRADED:
        # As grades.csv says why (rows.Row.reason): the error, else the first question that stopped.
        went_on = (QuestionStatus.PASSED, QuestionStatus.MANUAL)
        why = report.error or next((q.summary for q in report.questions if q.status not in went_on and q.summary), "")
        lines.append(f"Not graded normally: {row.get('status')}" + (f": {shown(why, 300)}" if why else ""))
    if report.questions:
        lines += ["", "Points per question:"]
        width = max(len(f"{q.id} {q.title}") for q in report.questions)
        for q in report.questions:
            got = student.points.get(q.id) or pts(q.points)
            pending = " (written part not graded yet)" if q.manual_pending else ""
            bonus = " (bonus)" if q.bonus and "bonus" not in q.title.lower() else ""
            lines.append(f"  {f'{q.id} {q.title}'.ljust(width)}  {got} / {pts(q.max_points)}{bonus}{pending}")
    mistakes = sorted({m for q in report.questions for m in q.mistakes})
    if mistakes:
        lines += ["", "Mistakes found:"]
        lines += [f"  - {m}: {ADVICE.get(m, '')}".rstrip(": ") for m in mistakes]
    lines += ["", "The whole feedback is attached (" + ", ".join(a for a, _, _ in attachments(student)) + ").", ""]
    return "\n".join(lines)


def attachments(student: Student) -> list[tuple[str, str, bytes]]:
    """``(file name, MIME subtype of text/, bytes)`` of each attachment."""
    stem = safe_name(f"Lab2 feedback {student.display}", default="Lab2 feedback")
    found = [(f"{stem}.md", "markdown", student.feedback)]
    if student.feedback_html is not None:
        found.append((f"{stem}.html", "html", student.feedback_html))
    return found


def reply(student: Student, sender: Address, when: datetime, *, changed: list[str] | None = None,
          replaces: str = "") -> EmailMessage:
    """The reply to ``student``'s mail, from ``sender``, dated ``when`` (aware)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = Address(display_name=shown(student.name, 120), addr_spec=student.address)
    msg["Subject"] = subject(student)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id(student, sender)
    references = list(student.references)
    if student.message_id:
        msg["In-Reply-To"] = student.message_id
        references.append(student.message_id)
    if replaces:
        references.append(replaces)
    if references:
        msg["References"] = " ".join(dict.fromkeys(references))
    msg["Auto-Submitted"] = "auto-replied"     # RFC 3834: no vacation message comes back for it
    msg[STUDENT_HEADER] = student.key
    msg.set_content(body(student, changed), cte="quoted-printable")   # 7-bit: any server takes it
    for name, subtype, data in attachments(student):
        msg.add_attachment(data.decode("utf-8", "replace"), subtype=subtype, filename=name,
                           cte="quoted-printable")
    return msg
