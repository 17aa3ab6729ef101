"""``python -m grader mail-back OUT`` after a real mail batch: drafts in an mbox, and replies sent
to a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS with a certificate made here, a login).

The batch is run once per module, from an mbox of 8 students built with the tests' builders:
DOE John (the reference: really graded, ~10 s), ÉTÉ Zoé (a non-ASCII name; the kit untouched),
MARTIN Alice (no archive), SANS Paquet (wrote twice: the second mail, a reply to the first, is
graded), EVIL Mallory (a subject with an encoded CR/LF and a Bcc line, a Reply-To naming
another student), BOB Bobby (a From crafted to read as another address), REFUSED Rita (the
server refuses her address) and PLAIN Pete; plus a mail from mallory's address whose subject
impersonates DOE John, sent before John's. The other archives cost about a second each.
"""
import csv
import io
import mailbox
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from builders import archives, classroom
from builders import teacher_inputs as ti

from grader import PROJECT
from grader.batch.run import run
from grader.rubric import load as load_rubric

pytestmark = pytest.mark.timeout(900)

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
CET = timezone(timedelta(hours=1))
TEACHER = "Prof. Teach <teacher@univ.example>"
USER, PASSWORD = "teacher", "s3cret-pass"
# Mallory's mail read as DOE John is graded in a row of its own (issue 22: a mail's student is who
# sent it), and its reply goes to her.
IMPOSTOR = "DOE_John-from-mallory-evil-example-9f551b7a"
MAILED = ["DOE_John", IMPOSTOR, "ETE_Zoe", "EVIL_Mallory", "PLAIN_Pete", "REFUSED_Rita", "SANS_Paquet"]
ADDRESS = {"DOE_John": "john.doe@etu.example", "ETE_Zoe": "zoe.ete@etu.example", "EVIL_Mallory": "mallory@evil.example",
           IMPOSTOR: "mallory@evil.example",
           "PLAIN_Pete": "pete@etu.example", "REFUSED_Rita": "rita@refused.example",
           "SANS_Paquet": "paquet@etu.example"}
HOSTILE_SUBJECT = "=?utf-8?q?DLCV-friday:_EVIL_Mallory_Lab2=0D=0ABcc:_victim@etu.example=0D=0AX-Evil:_1?="


def when(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, 0, tzinfo=CET)


def tar(folder: Path, name: str, files: dict) -> bytes:
    return archives.write_tar(folder / name, {k: v.encode() if isinstance(v, str) else v
                                              for k, v in files.items()}).read_bytes()


def build_mbox(root: Path) -> Path:
    """The class's mailbox; every message has a known Message-ID."""
    work = root / "archives"
    work.mkdir()
    good = archives.good_wrapped(work).read_bytes()
    kit = {**classroom.skeleton(), "REPORT.md": archives.REPORT}
    loose = {name.removeprefix("lab2/"): data for name, data in archives.package_files().items()}
    broken = {**archives.package_files(), "lab2/__init__.py": b"raise ImportError('half done')\n"}
    mails = [  # (Mail, Message-ID, extra headers, raw From replacing the From line)
        (ti.Mail("DLCV-thursday: DOE John Lab2", "mallory@evil.example", when(9, 12),
                 [("DOE John Lab2 DLCV.tar.bz2", tar(work, "x1.tar.bz2", loose))]), "<imp.1@evil.example>", {}, None),
        (ti.Mail("DLCV-thursday: DOE John Lab2", "John Doe <john.doe@etu.example>", when(10, 20),
                 [("DOE John Lab2 DLCV.tar.bz2", good)]), "<doe.1@etu.example>", {}, None),
        (ti.Mail("DLCV-friday: ÉTÉ Zoé Lab2", "Zoé Été <zoe.ete@etu.example>", when(10, 21),
                 [("ÉTÉ Zoé Lab2 DLCV.tar.bz2", tar(work, "x2.tar.bz2", kit))]), "<zoe.1@etu.example>", {}, None),
        (ti.Mail("DLCV-friday: MARTIN Alice Lab2", "alice@etu.example", when(10, 9), []),
         "<alice.1@etu.example>", {}, None),
        (ti.Mail("DLCV-thursday: SANS Paquet Lab2", "paquet@etu.example", when(10, 8),
                 [("SANS Paquet Lab2 DLCV.tar.bz2", tar(work, "x3.tar.bz2", broken))]),
         "<sans.1@etu.example>", {}, None),
        (ti.Mail("Re: DLCV-thursday: SANS Paquet Lab2", "paquet@etu.example", when(10, 19),
                 [("SANS Paquet Lab2 DLCV.tar.bz2", tar(work, "x4.tar.bz2", loose))]),
         "<sans.2@etu.example>", {"References": "<sans.1@etu.example> <not a msgid>"}, None),
        (ti.Mail("PLACEHOLDER", "Mallory <mallory@evil.example>", when(10, 18),
                 [("EVIL Mallory Lab2 DLCV.tar.bz2", tar(work, "x5.tar.bz2", broken))]),
         "<evil.1@evil.example>", {"Reply-To": "john.doe@etu.example"}, None),
        (ti.Mail("DLCV-friday: BOB Bobby Lab2", "placeholder@x.example", when(10, 17),
                 [("BOB Bobby Lab2 DLCV.tar.bz2", tar(work, "x6.tar.bz2", loose))]),
         "<bob.1@evil.example>", {}, b"From: john.doe@etu.example <mallory@evil.example>"),
        (ti.Mail("DLCV-friday: REFUSED Rita Lab2", "rita@refused.example", when(10, 16),
                 [("REFUSED Rita Lab2 DLCV.tar.bz2", tar(work, "x7.tar.bz2", loose))]), "<rita.1@x.example>", {}, None),
        (ti.Mail("DLCV-friday: PLAIN Pete Lab2", "Pete Plain <pete@etu.example>", when(10, 15),
                 [("PLAIN Pete Lab2 DLCV.tar.bz2", tar(work, "x8.tar.bz2", loose))]), "<pete.1@etu.example>", {}, None),
    ]
    box = mailbox.mbox(root / "Lab2")
    for mail, message_id, extra, raw_from in mails:
        msg = ti.message(mail)
        msg.replace_header("Message-ID", message_id)
        for name, value in extra.items():
            msg[name] = value
        data = msg.as_bytes()
        # Headers as a hostile client writes them, kept verbatim (no generator re-encodes them).
        data = data.replace(b"Subject: PLACEHOLDER", b"Subject: " + HOSTILE_SUBJECT.encode(), 1)
        if raw_from is not None:
            data = data.replace(b"From: placeholder@x.example", raw_from, 1)
        box.add(data)
    box.flush()
    box.close()
    return root / "Lab2"


def manual_csv(path: Path, points: dict[str, float]) -> Path:
    """Hand points for every written part of every student, as a teacher fills them in."""
    lines = ["student,question,points,comment"]
    for student in ("DOE John", "ÉTÉ Zoé", "EVIL Mallory", "REFUSED Rita", "PLAIN Pete", "SANS Paquet"):
        for qid in ("q1_2", "q1_3", "q1_4", "q3_1"):
            lines.append(f"{student},{qid},{points.get((student, qid), 1)},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("mailback")
    source = build_mbox(root)
    out = root / "out"
    run(source, out, RUBRIC, jobs=2, progress=False)
    shutil.copytree(out, root / "out-pending")
    run(source, out, RUBRIC, jobs=1, progress=False, manual_csv=manual_csv(root / "hand.csv", {}))
    return {"root": root, "source": source, "out": out, "pending": root / "out-pending"}


def copy_out(graded, tmp_path, name="out") -> Path:
    return Path(shutil.copytree(graded["out"], tmp_path / name))


def mail_back(out, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "mail-back", str(out), "--from", TEACHER, *map(str, args)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def grades(out: Path) -> dict[str, dict]:
    rows = csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline=""))
    # Mallory's row read as DOE John (IMPOSTOR) is named DOE John too: his own row is the other one.
    return {f"{r['last_name']} {r['first_name']}": r for r in rows
            if "sent from mallory@evil.example, but" not in r["warnings"]}


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def attachment(msg):
    parts = [p for p in msg.iter_attachments()]
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_content()


# --- the batch records what a reply needs ------------------------------------------------------------

def test_the_batch_records_the_message_each_archive_came_from(graded):
    import json
    students = graded["out"] / "students"
    doe = json.loads((students / "DOE_John" / "mail.json").read_text())
    assert (doe["address"], doe["message_id"]) == ("john.doe@etu.example", "<doe.1@etu.example>")
    assert doe["also_from"] == ["mallory@evil.example"]          # the impersonating subject, its own row
    sans = json.loads((students / "SANS_Paquet" / "mail.json").read_text())
    assert sans["message_id"] == "<sans.2@etu.example>"          # the mail graded: the later one
    bob = json.loads((students / "BOB_Bobby" / "mail.json").read_text())
    assert bob["address"] == "" and "not one clean address" in bob["problem"]
    evil = json.loads((students / "EVIL_Mallory" / "mail.json").read_text())
    assert evil["address"] == "mallory@evil.example"              # not the Reply-To


# --- drafts ----------------------------------------------------------------------------------------------

def test_written_parts_not_graded_yet_hold_the_replies(graded, tmp_path):
    done = mail_back(graded["pending"], "--mbox", tmp_path / "drafts.mbox")
    assert done.returncode == 0, done.stderr
    held = {line.removeprefix("warning: ").split(":")[0] for line in done.stderr.splitlines() if "held" in line}
    assert held == {"DOE_John", "ETE_Zoe", "EVIL_Mallory"}   # the others sent no lab2/: nothing to grade by hand
    box = mailbox.mbox(tmp_path / "drafts.mbox")
    assert sorted(m["X-Lab2-Student"] for m in box) == [IMPOSTOR, "PLAIN_Pete", "REFUSED_Rita", "SANS_Paquet"]


def test_mbox_drafts_one_per_graded_student_threaded_and_never_twice(graded, tmp_path):
    out, drafts = copy_out(graded, tmp_path), tmp_path / "replies.mbox"
    done = mail_back(out, "--mbox", drafts)
    assert done.returncode == 0, done.stderr
    assert "7 replies drafted" in done.stdout
    assert "not mailed: MARTIN Alice" not in done.stderr      # listed by folder key
    assert any(line.startswith("not mailed: MARTIN_Alice: no grade (no-archive)") for line in done.stderr.splitlines())
    assert any(line.startswith("not mailed: BOB_Bobby: no reply: its From header is not one clean address")
               for line in done.stderr.splitlines())
    assert "DOE_John: mail read as this student also came from mallory@evil.example" in done.stderr
    box = mailbox.mbox(drafts)
    messages = {m["X-Lab2-Student"]: parse(m.as_bytes()) for m in box}
    assert sorted(messages) == MAILED and len(box) == 7
    for key, msg in messages.items():
        assert msg["To"].addresses[0].addr_spec == ADDRESS[key]
        assert msg["From"].addresses[0].addr_spec == "teacher@univ.example"
        assert msg["Message-ID"].startswith("<lab2.") and msg["Message-ID"].endswith("@univ.example>")
    rows = grades(out)
    doe = messages["DOE_John"]
    assert doe["Subject"] == "Re: DLCV-thursday: DOE John Lab2"
    assert doe["In-Reply-To"] == "<doe.1@etu.example>" and doe["References"] == "<doe.1@etu.example>"
    text = doe.get_body(("plain",)).get_content()
    assert f"Total: {rows['DOE John']['total']} / 20, bonus {rows['DOE John']['bonus']}" in text
    assert rows["DOE John"]["total"] == "19"           # 15 automatic + 4 by hand, merged by batch --manual
    assert any(line.split() == ["q3_1", "architecture", "figure", "1", "/", "2"] for line in text.splitlines())
    name, feedback = attachment(doe)
    assert name == "Lab2 feedback DOE John.md"
    assert feedback == (out / "students" / "DOE_John" / "feedback.md").read_text()
    sans = messages["SANS_Paquet"]
    assert sans["In-Reply-To"] == "<sans.2@etu.example>"
    assert sans["References"] == "<sans.1@etu.example> <sans.2@etu.example>"   # the invalid id left out
    assert "Not graded normally: no-package" in sans.get_body(("plain",)).get_content()
    # The non-ASCII name: RFC 2047 in To, RFC 2231 for the attachment's name, both read back.
    zoe = messages["ETE_Zoe"]
    raw = next(m for m in box if m["X-Lab2-Student"] == "ETE_Zoe").as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0] and b"filename*=utf-8''" in raw
    assert zoe["To"].addresses[0].display_name == "Zoé Été"
    assert attachment(zoe)[0] == "Lab2 feedback ÉTÉ Zoé.md"
    assert zoe["Subject"] == "Re: DLCV-friday: ÉTÉ Zoé Lab2"
    # The hostile subject is one line; the Bcc and X-Evil lines it carried are no headers.
    evil = messages["EVIL_Mallory"]
    assert "Bcc" not in evil and "X-Evil" not in evil and "\n" not in evil["Subject"] and "\r" not in evil["Subject"]
    assert evil["Subject"].startswith("Re: DLCV-friday: EVIL Mallory Lab2")
    assert evil["To"].addresses[0].addr_spec == "mallory@evil.example"     # never the Reply-To
    assert "Not graded normally: import-error: q1_1: importing lab2.single_neuron raised ImportError: half done" \
        in evil.get_body(("plain",)).get_content()
    # A second run writes nothing: the file is byte for byte the same.
    before = drafts.read_bytes()
    again = mail_back(out, "--mbox", drafts)
    assert again.returncode == 0 and "0 replies drafted, 7 already delivered" in again.stdout
    assert drafts.read_bytes() == before


# --- SMTP ------------------------------------------------------------------------------------------------

class Server:
    """aiosmtpd on 127.0.0.1 with STARTTLS (required) and a login; keeps what it receives. After
    ``limit`` messages it answers 421 (shutting down), as a server going away does."""

    def __init__(self, cert: Path, key: Path, limit: int | None = None, tls: str = "starttls"):
        self.received: list[tuple[list[str], bytes]] = []
        self.limit = limit
        self.lock = threading.Lock()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        how = {"starttls": {"tls_context": context, "require_starttls": True, "auth_required": True},
               # aiosmtpd does not see implicit TLS as TLS for AUTH: the transport is TLS all the same.
               "ssl": {"ssl_context": context, "auth_required": True, "auth_require_tls": False},
               "none": {}}[tls]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, authenticator=self.authenticate,
                                     **how)
        self.controller.start()

    @staticmethod
    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode()))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.limit is not None and len(self.received) >= self.limit:
                return "421 4.3.2 service shutting down"
            self.received.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 queued"

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_smtp_is_a_dry_run_until_send(graded, certificate, tmp_path):
    out = copy_out(graded, tmp_path)
    server = Server(*certificate)
    try:
        done = mail_back(out, "--smtp", f"127.0.0.1:{server.port}", "--cafile", certificate[0], "--pause", "0")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "dry run: 7 replies would be sent" in done.stdout
    assert "  DOE_John -> john.doe@etu.example: Re: DLCV-thursday: DOE John Lab2 [total 19]" in done.stdout
    assert server.received == [] and not (out / "mail-back" / "journal.jsonl").exists()


def test_smtp_sends_stops_with_the_server_and_resumes_without_a_duplicate(graded, certificate, tmp_path):
    out = copy_out(graded, tmp_path)
    login = {"LAB2_SMTP_USER": USER, "LAB2_SMTP_PASSWORD": PASSWORD}
    first = Server(*certificate, limit=3)
    try:
        done = mail_back(out, "--smtp", f"127.0.0.1:{first.port}", "--cafile", certificate[0], "--send",
                         "--pause", "0", env=login)
    finally:
        first.stop()
    assert done.returncode == 3, done.stderr
    assert "421" in done.stderr and "run the same command again" in done.stderr
    assert len(first.received) == 3
    journal = (out / "mail-back" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 3 and all('"result":"sent"' in line.replace(" ", "") for line in journal)
    # The server is gone: nothing is sent or recorded, and the command says so.
    gone = mail_back(out, "--smtp", f"127.0.0.1:{first.port}", "--cafile", certificate[0], "--send", "--pause", "0",
                     env=login)
    assert gone.returncode == 3 and "cannot reach the SMTP server" in gone.stderr
    assert len((out / "mail-back" / "journal.jsonl").read_text().splitlines()) == 3
    # Back, with the login from ~/.netrc this time: the rest, and nothing twice.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    (home / ".netrc").chmod(0o600)
    env = {"HOME": str(home), "LAB2_SMTP_USER": "", "LAB2_SMTP_PASSWORD": ""}
    second = Server(*certificate)
    try:
        resumed = mail_back(out, "--smtp", f"127.0.0.1:{second.port}", "--cafile", certificate[0], "--send",
                            "--pause", "0.2", env=env)
        again = mail_back(out, "--smtp", f"127.0.0.1:{second.port}", "--cafile", certificate[0], "--send",
                          "--pause", "0", env=env)
    finally:
        second.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert "REFUSED_Rita: recipient refused: 550 5.1.1 no such user here" in resumed.stderr
    assert "3 replies sent, 3 already delivered" in resumed.stdout and "1 refused" in resumed.stdout
    assert again.returncode == 0 and "0 replies sent, 6 already delivered" in again.stdout   # Rita tried again
    received = [(rcpt, parse(data)) for rcpt, data in first.received + second.received]
    ids = [m["Message-ID"] for _, m in received]
    assert len(ids) == len(set(ids)) == 6
    keys = sorted(m["X-Lab2-Student"] for _, m in received)
    assert keys == [k for k in MAILED if k != "REFUSED_Rita"]
    for rcpt, msg in received:     # each went to its sender only: no Bcc, no Reply-To, no other student
        assert rcpt == [ADDRESS[msg["X-Lab2-Student"]]] and msg["To"].addresses[0].addr_spec == rcpt[0]
        assert "Bcc" not in msg
    by_key = {m["X-Lab2-Student"]: m for _, m in received}
    zoe = by_key["ETE_Zoe"]
    assert zoe["To"].addresses[0].display_name == "Zoé Été" and attachment(zoe)[0] == "Lab2 feedback ÉTÉ Zoé.md"
    assert by_key["DOE_John"]["In-Reply-To"] == "<doe.1@etu.example>"
    assert f"Total: {grades(out)['DOE John']['total']} / 20" in by_key["DOE_John"].get_body(("plain",)).get_content()
    # The same replies as drafts have the same identities.
    drafts = tmp_path / "drafts.mbox"
    assert mail_back(out, "--mbox", drafts).returncode == 0
    assert {m["Message-ID"] for m in mailbox.mbox(drafts)} >= set(ids)


def test_a_regraded_student_gets_a_new_reply_only_with_resend(graded, certificate, tmp_path):
    out = copy_out(graded, tmp_path)
    login = {"LAB2_SMTP_USER": USER, "LAB2_SMTP_PASSWORD": PASSWORD}
    server = Server(*certificate)
    try:
        args = ("--smtp", f"127.0.0.1:{server.port}", "--cafile", certificate[0], "--send", "--pause", "0")
        assert mail_back(out, *args, env=login).returncode == 0
        assert len(server.received) == 6
        # The teacher changes DOE John's figure mark: the batch merges the new file (nothing regraded).
        run(graded["source"], out, RUBRIC, jobs=1, progress=False,
                  manual_csv=manual_csv(tmp_path / "hand2.csv", {("DOE John", "q3_1"): 2}))
        without = mail_back(out, *args, env=login)
        assert without.returncode == 0 and len(server.received) == 6
        assert "DOE_John: the grade changed since the reply delivered (total: 19 -> 20 / 20; " \
               "q3_1 architecture figure: 1 -> 2): --resend sends a new one" in without.stderr
        resent = mail_back(out, *args, "--resend", env=login)
    finally:
        server.stop()
    assert resent.returncode == 0 and "1 replies sent" in resent.stdout
    assert len(server.received) == 7
    first = parse(next(d for _, d in server.received if b"X-Lab2-Student: DOE_John\r\n" in d))
    new = parse(server.received[-1][1])
    assert new["X-Lab2-Student"] == "DOE_John" and new["Message-ID"] != first["Message-ID"]
    assert new["References"] == f"<doe.1@etu.example> {first['Message-ID']}"
    text = new.get_body(("plain",)).get_content()
    assert "the grade was revised" in text and "total: 19 -> 20 / 20" in text and "Total: 20 / 20" in text


def test_ctrl_c_between_two_messages_loses_nothing_and_the_next_run_sends_the_rest(graded, certificate, tmp_path):
    out = copy_out(graded, tmp_path)
    env = {**os.environ, "LAB2_SMTP_USER": USER, "LAB2_SMTP_PASSWORD": PASSWORD}
    server = Server(*certificate)
    args = [sys.executable, "-m", "grader", "mail-back", str(out), "--from", TEACHER, "--smtp",
            f"127.0.0.1:{server.port}", "--cafile", str(certificate[0]), "--send"]
    try:
        run = subprocess.Popen([*args, "--pause", "30"], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not server.received and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        time.sleep(0.5)             # the first reply journaled, the run in its pause
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=60)
        assert run.returncode == 130, stderr
        assert "interrupted" in stderr and len(server.received) == 1
        journal = (out / "mail-back" / "journal.jsonl").read_text().splitlines()
        assert len(journal) == 1 and '"DOE_John"' in journal[0]
        done = subprocess.run([*args, "--pause", "0"], cwd=PROJECT, env=env, capture_output=True, text=True,
                              timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "5 replies sent, 1 already delivered" in done.stdout
    keys = [parse(d)["X-Lab2-Student"] for _, d in server.received]
    assert sorted(keys) == [k for k in MAILED if k != "REFUSED_Rita"] and len(set(keys)) == len(keys)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_ssl_and_a_server_without_starttls_is_refused(graded, certificate, tmp_path):
    out = copy_out(graded, tmp_path)
    login = {"LAB2_SMTP_USER": USER, "LAB2_SMTP_PASSWORD": PASSWORD}
    implicit, bare = Server(*certificate, tls="ssl"), Server(*certificate, tls="none")
    try:
        sent = mail_back(out, "--smtp", f"127.0.0.1:{implicit.port}", "--ssl", "--cafile", certificate[0], "--send",
                         "--pause", "0", env=login)
        refused = mail_back(out, "--smtp", f"127.0.0.1:{bare.port}", "--cafile", certificate[0], "--send",
                            "--pause", "0", "--resend", env=login)
    finally:
        implicit.stop()
        bare.stop()
    assert sent.returncode == 0 and "6 replies sent" in sent.stdout, sent.stderr
    assert len(implicit.received) == 6
    assert refused.returncode == 2 and "does not offer STARTTLS" in refused.stderr and bare.received == []


def test_a_feedback_html_beside_the_markdown_is_attached_too(graded, tmp_path):
    out = copy_out(graded, tmp_path)
    page = "<!DOCTYPE html><p>Pete's feedback, é</p>\n"
    (out / "students" / "PLAIN_Pete" / "feedback.html").write_text(page, encoding="utf-8")
    assert mail_back(out, "--mbox", tmp_path / "r.mbox").returncode == 0
    pete = next(parse(m.as_bytes()) for m in mailbox.mbox(tmp_path / "r.mbox") if m["X-Lab2-Student"] == "PLAIN_Pete")
    parts = {p.get_filename(): (p.get_content_type(), p.get_content()) for p in pete.iter_attachments()}
    assert parts == {"Lab2 feedback PLAIN Pete.md": ("text/markdown",
                                                    (out / "students" / "PLAIN_Pete" / "feedback.md").read_text()),
                     "Lab2 feedback PLAIN Pete.html": ("text/html", page)}


def test_no_batch_in_out_is_one_line_and_exit_2(tmp_path):
    done = mail_back(tmp_path / "nothing", "--mbox", tmp_path / "r.mbox")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "grades.csv" in done.stderr
    assert not (tmp_path / "nothing").exists() and not (tmp_path / "r.mbox").exists()
