"""The hand grades of a batch, in SQLite: ``OUT/gradebook.sqlite``.

Standard library ``sqlite3`` in WAL mode; every save is one transaction (``with self.db``), so a
browser closed or a server killed in the middle of a save leaves the grade as it was before or
as it is after, never half. Every save is also appended to ``history`` (who, when, what), so
nothing a teacher did is lost. The schema is versioned (``PRAGMA user_version``) and upgraded
in place at open by ``MIGRATIONS``, one step per version.

What is stored (items are referred to by id; their points live in ``rubric_items.yaml`` and are
read at every use, so editing an item changes every grade that uses it):
- ``group_grades(question, group_id)``: the grade of an answer group, given once for all its members;
- ``own_grades(question, key)``: a member's own grade, overriding its group's, with the ``sha``
  of the answer it was given to: when the student's answer changes (a resubmission graded by a
  later batch), the grade is *stale*: shown, but counted as to grade again, never exported;
- ``merges(question, group_id -> into)``: suggested merges the teacher confirmed;
- ``seen(question, key) -> sha``: the answer each student had when a grade last reached them,
  so a changed answer is marked even when its new group is graded;
- ``meta``: the salt of the stable shuffle.
A grade is ``{"items": [ids], "comment": str, "adjust": float}``.
"""
import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from grader.review.answers import random_salt

MIGRATIONS = [
    # 1: grades of groups and members, the audit trail, settings
    """
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE group_grades (question TEXT NOT NULL, group_id TEXT NOT NULL, grade TEXT NOT NULL,
        grader TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (question, group_id));
    CREATE TABLE own_grades (question TEXT NOT NULL, key TEXT NOT NULL, sha TEXT NOT NULL, grade TEXT NOT NULL,
        grader TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (question, key));
    CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, grader TEXT NOT NULL,
        question TEXT NOT NULL, target TEXT NOT NULL, what TEXT NOT NULL);
    """,
    # 2: confirmed merges of answer groups, and the answer each student had when graded
    """
    CREATE TABLE merges (question TEXT NOT NULL, group_id TEXT NOT NULL, into_id TEXT NOT NULL,
        grader TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (question, group_id));
    CREATE TABLE seen (question TEXT NOT NULL, key TEXT NOT NULL, sha TEXT NOT NULL, PRIMARY KEY (question, key));
    """,
]
VERSION = len(MIGRATIONS)


@dataclass
class Grade:
    items: list[str] = field(default_factory=list)
    comment: str = ""
    adjust: float = 0.0
    grader: str = ""
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps({"items": self.items, "comment": self.comment, "adjust": self.adjust})

    @classmethod
    def from_row(cls, text: str, grader: str, at: float) -> "Grade":
        data = json.loads(text)
        return cls(list(data.get("items", [])), str(data.get("comment", "")), float(data.get("adjust", 0.0)),
                   grader, at)


def connect(path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


def migrate(db: sqlite3.Connection, upto: int = VERSION) -> int:
    """Apply the missing migrations (each in its own transaction); returns the version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise RuntimeError(f"the gradebook's schema is version {version}, newer than this grader's {VERSION}")
    for n in range(version, upto):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, MIGRATIONS[n].split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={n + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return db.execute("PRAGMA user_version").fetchone()[0]


class Gradebook:
    """One connection to ``path`` (create it, or upgrade its schema). A web server opens one per
    request thread: SQLite serialises the writers, WAL lets readers go on."""

    def __init__(self, path):
        self.path = Path(path)
        self.db = connect(self.path)
        migrate(self.db)

    def close(self):
        self.db.close()

    # --- writing: each one transaction --------------------------------------------------------

    def _tx(self):
        return _Tx(self.db)

    def salt(self) -> str:
        with self._tx():
            row = self.db.execute("SELECT value FROM meta WHERE name='salt'").fetchone()
            if row:
                return row[0]
            salt = random_salt()
            self.db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt,))
            return salt

    def set_group(self, question: str, group_id: str, grade: Grade | None, grader: str,
                  members: Iterable[tuple[str, str]] = ()) -> None:
        """Grade a group (None removes its grade); ``members`` are ``(key, sha)`` it reaches."""
        now = time.time()
        with self._tx():
            if grade is None:
                self.db.execute("DELETE FROM group_grades WHERE question=? AND group_id=?", (question, group_id))
            else:
                self.db.execute("INSERT OR REPLACE INTO group_grades VALUES (?,?,?,?,?)",
                                (question, group_id, grade.to_json(), grader, now))
            for key, sha in members:
                self.db.execute("INSERT OR REPLACE INTO seen VALUES (?,?,?)", (question, key, sha))
            self._log(now, grader, question, f"group:{group_id}", grade)

    def set_own(self, question: str, key: str, sha: str, grade: Grade | None, grader: str) -> None:
        """A member's own grade (None: back to its group's)."""
        now = time.time()
        with self._tx():
            if grade is None:
                self.db.execute("DELETE FROM own_grades WHERE question=? AND key=?", (question, key))
            else:
                self.db.execute("INSERT OR REPLACE INTO own_grades VALUES (?,?,?,?,?,?)",
                                (question, key, sha, grade.to_json(), grader, now))
                self.db.execute("INSERT OR REPLACE INTO seen VALUES (?,?,?)", (question, key, sha))
            self._log(now, grader, question, f"student:{key}", grade)

    def merge(self, question: str, group_id: str, into: str, grader: str) -> None:
        now = time.time()
        with self._tx():
            self.db.execute("INSERT OR REPLACE INTO merges VALUES (?,?,?,?,?)", (question, group_id, into, grader, now))
            self.db.execute("INSERT INTO history (at, grader, question, target, what) VALUES (?,?,?,?,?)",
                            (now, grader, question, f"group:{group_id}", json.dumps({"merged_into": into})))

    def _log(self, now, grader, question, target, grade: Grade | None):
        self.db.execute("INSERT INTO history (at, grader, question, target, what) VALUES (?,?,?,?,?)",
                        (now, grader, question, target, grade.to_json() if grade else "null"))

    # --- reading ---------------------------------------------------------------------------------

    def group_grades(self, question: str) -> dict[str, Grade]:
        rows = self.db.execute("SELECT group_id, grade, grader, at FROM group_grades WHERE question=?", (question,))
        return {gid: Grade.from_row(g, who, at) for gid, g, who, at in rows}

    def own_grades(self, question: str) -> dict[str, tuple[str, Grade]]:
        rows = self.db.execute("SELECT key, sha, grade, grader, at FROM own_grades WHERE question=?", (question,))
        return {key: (sha, Grade.from_row(g, who, at)) for key, sha, g, who, at in rows}

    def merges(self, question: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT group_id, into_id FROM merges WHERE question=?", (question,)))

    def seen(self, question: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, sha FROM seen WHERE question=?", (question,)))

    def comments(self, question: str) -> list[str]:
        """The comment library: every comment already written for the question, most used first."""
        counts: dict[str, int] = {}
        for table in ("group_grades", "own_grades"):
            for (g,) in self.db.execute(f"SELECT grade FROM {table} WHERE question=?", (question,)):  # noqa: S608
                c = json.loads(g).get("comment", "").strip()
                if c:
                    counts[c] = counts.get(c, 0) + 1
        return sorted(counts, key=lambda c: (-counts[c], c))

    def history(self, question: str | None = None) -> list[tuple]:
        sql = "SELECT at, grader, question, target, what FROM history"
        args: tuple[str, ...] = ()
        if question:
            sql, args = sql + " WHERE question=?", (question,)
        with closing(self.db.execute(sql + " ORDER BY id", args)) as cur:
            return cur.fetchall()


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on any exception): one write lock,
    taken at the start, so two servers' saves are serialised instead of failing half-way."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        self.db.execute("ROLLBACK" if kind else "COMMIT")
        return False
