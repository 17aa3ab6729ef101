"""``OUT/mail-back/journal.jsonl``: every reply sent or drafted, one JSON object a line.

A line is appended and flushed to disk (``fsync``) as soon as the server has accepted a reply
(or the draft is in the mbox), before the next one is sent: a run stopped at any point (the
network, the server, Ctrl-C, a kill) knows on the next run what went out. A line::

    {"key": "DOE_John", "identity": "<24 hex>", "message_id": "<lab2...@univ.example>",
     "in_reply_to": "<the student's Message-ID>", "to": "john@...", "via": "smtp" | "mbox",
     "result": "sent" | "drafted" | "refused", "detail": "...", "at": "<ISO 8601>",
     "grade": {Student.grade()}}

``refused`` (the server refused that recipient or that message) is for the teacher; only
``sent`` lines count as sent, so a refused reply is tried again by the next run. A line that
cannot be parsed (a run killed while writing it) is ignored. The file is the teacher's record
and the only state; deleting it forgets what was sent.
"""
import json
import os
from pathlib import Path

from grader.batch import outdir
from grader.render import neutralise as N


class Journal:
    def __init__(self, folder: Path):
        self.path = Path(folder) / outdir.JOURNAL
        self.entries: list[dict] = []
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                self.entries.append(entry)

    def delivered(self, via: str) -> list[dict]:
        """The ``sent`` (smtp) or ``drafted`` (mbox) lines, in order."""
        wanted = "sent" if via == "smtp" else "drafted"
        return [e for e in self.entries if e.get("via") == via and e.get("result") == wanted]

    def by_message_id(self, message_id: str) -> dict | None:
        return next((e for e in reversed(self.entries) if e.get("message_id") == message_id
                     and e.get("result") in ("sent", "drafted")), None)

    def append(self, entry: dict) -> None:
        """Write one line and make it durable before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = N.json_dumps(entry) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.entries.append(entry)
