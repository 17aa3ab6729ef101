"""The two ways out: drafts appended to an mbox file, or an SMTP server.

``Mbox(path)``: the replies appended as messages a mail program imports (Thunderbird's
ImportExportTools NG, or any mbox reader); ``known()`` gives the Message-IDs already in the
file, so a second run adds nothing.

``Smtp(host, port, security, cafile)``: ``security`` is ``starttls`` (the default: the session
is upgraded before anything else is said, and a server without STARTTLS is refused), ``ssl``
(implicit TLS, port 465) or ``plain`` (no TLS: only for a relay on this machine, and never with
a login). The server's certificate is checked against the system's CAs, or ``cafile``. The
login is never on the command line: ``LAB2_SMTP_USER`` and ``LAB2_SMTP_PASSWORD`` from the
environment, else the ``~/.netrc`` entry of the host (``machine HOST login L password P``), else
none. ``send`` raises ``Refused`` when the server refuses that recipient or that message (the
student's error: the run goes on) and ``Gone`` when the connection cannot go on (the run stops:
the next one resumes).
"""
import mailbox
import netrc
import os
import smtplib
import ssl
from pathlib import Path

from grader.batch.intake.files import shown
from grader.errors import UsageError

SECURITY = ("starttls", "ssl", "plain")
USER_VAR, PASSWORD_VAR = "LAB2_SMTP_USER", "LAB2_SMTP_PASSWORD"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Refused(Exception):
    """The server refused this reply (its recipient or its content): that student's error."""


class Gone(Exception):
    """The server or the network went away: stop, the next run resumes."""


class Mbox:
    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise UsageError(f"--mbox {self.path} is not a file")
        if self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes()[:5] == b"From ":
            raise UsageError(f"--mbox {self.path} exists and is not an mbox file: choose another name")

    def known(self) -> dict[str, str]:
        """Message-ID -> the student's key header, of every message already in the file."""
        if not self.path.is_file():
            return {}
        box = mailbox.mbox(self.path, create=False)
        try:
            return {str(m.get("Message-ID", "")).strip(): str(m.get("X-Lab2-Student", "")) for m in box}
        finally:
            box.close()

    def send(self, msg, to: str) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.mbox(self.path, create=True)
        try:
            box.lock()
            entry = mailbox.mboxMessage(msg)
            entry.set_from(msg["From"].addresses[0].addr_spec, time_=None)
            box.add(entry)
            box.flush()
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            box.unlock()
            box.close()
        return "drafted"

    def close(self) -> None:
        pass


def login_for(host: str) -> tuple[str, str] | None:
    """``(user, password)`` from the environment, else ``~/.netrc``, else None."""
    user, password = os.environ.get(USER_VAR), os.environ.get(PASSWORD_VAR)
    if user or password:
        if not (user and password):
            raise UsageError(f"set both {USER_VAR} and {PASSWORD_VAR} (or neither, to use ~/.netrc)")
        return user, password
    try:
        found = netrc.netrc().authenticators(host)
    except FileNotFoundError:
        return None
    except (netrc.NetrcParseError, OSError) as err:
        raise UsageError(f"~/.netrc cannot be read: {shown(err, 160)}") from None
    if found and found[0] and found[2]:
        return found[0], found[2]
    return None


class Smtp:
    def __init__(self, host: str, port: int, security: str = "starttls", cafile: str | None = None,
                 timeout: float = 60.0):
        if security not in SECURITY:
            raise UsageError(f"unknown SMTP security {security!r}: one of {', '.join(SECURITY)}")
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        try:
            self.context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as err:
            raise UsageError(f"--cafile {cafile}: {shown(err, 160)}") from None
        self.login = login_for(host)
        if self.login and security == "plain" and host not in LOOPBACK:
            raise UsageError(f"a login is set for {host} but --plain sends it unencrypted: use STARTTLS or --ssl")
        self.smtp: smtplib.SMTP | None = None

    def connect(self) -> None:
        """Open the session (TLS, login); ``Gone`` when the server cannot be reached, ``UsageError``
        when it refuses TLS or the login (nothing would go better on the next run)."""
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    raise UsageError(f"{self.host}:{self.port} does not offer STARTTLS: use --ssl (port 465), "
                                     "or --plain for a relay on this machine")
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.login:
                smtp.login(*self.login)
        except smtplib.SMTPAuthenticationError as err:
            raise UsageError(f"{self.host} refused the login: {err.smtp_code} {_text(err.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError:
            raise UsageError(f"{self.host}:{self.port} offers no login (AUTH), and one is set "
                             f"({USER_VAR} or ~/.netrc)") from None
        except ssl.SSLError as err:
            raise UsageError(f"TLS with {self.host}:{self.port} failed: {shown(err, 200)}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise Gone(f"cannot reach the SMTP server {self.host}:{self.port}: {_error(err)}") from None
        self.smtp = smtp

    def send(self, msg, to: str) -> str:
        """Send ``msg`` to ``to`` only (the envelope: never the headers' addresses)."""
        if self.smtp is None:
            self.connect()
        smtp = self.smtp
        assert smtp is not None, "connect() sets it or raises"
        sender = msg["From"].addresses[0].addr_spec
        try:
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as err:
            code, text = next(iter(err.recipients.values()), (0, b""))
            if code == 421:
                raise self._gone(f"{code} {_text(text)}") from None
            raise Refused(f"recipient refused: {code} {_text(text)}") from None
        except smtplib.SMTPDataError as err:
            if err.smtp_code == 421:
                raise self._gone(f"{err.smtp_code} {_text(err.smtp_error)}") from None
            raise Refused(f"message refused: {err.smtp_code} {_text(err.smtp_error)}") from None
        except smtplib.SMTPSenderRefused as err:
            raise UsageError(f"{self.host} refuses the sender {sender}: {err.smtp_code} {_text(err.smtp_error)}") \
                from None
        except (smtplib.SMTPException, OSError) as err:
            raise self._gone(_error(err)) from None
        if refused:
            raise Refused(f"recipient refused: {shown(refused, 200)}")
        return "sent"

    def _gone(self, why: str) -> Gone:
        self.close()
        return Gone(f"the SMTP server {self.host}:{self.port} stopped the session: {why}")

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def _text(value) -> str:
    return shown(value.decode("utf-8", "replace") if isinstance(value, bytes) else value, 200)


def _error(err: Exception) -> str:
    return shown(f"{type(err).__name__}: {err}", 200)
