"""Moodle's offline grading worksheet ("Download grading worksheet"), read so that it can be
written back with only two cells changed.

The file is kept as its text plus, for every record, the character span of every cell, so a
writer replaces the ``Grade`` and ``Feedback comments`` cells and copies every other byte
(quotes, line ends, a BOM, the other columns' formatting) as downloaded. The spans come from a
small scanner of RFC 4180 (what Moodle writes: comma-separated, double quotes, UTF-8); the
``csv`` module reads the same text and the two must agree cell for cell, or the file is
refused.

Headers are found in English and French (Moodle's translations: Identifier/Identifiant,
Grade/Note, Last modified (grade)/Dernière modification (note), Feedback comments/Feedback par
commentaires, ...); Moodle refuses an upload without the identifier, grade and last-modified
(grade) columns, and so does this reader. A participant is the number at the end of the
identifier (``Participant 123456``, ``Participant123456``). What this module is not: deciding
grades or writing the filled copy (``grader.render.moodle``).
"""
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from grader import read_input
from grader.errors import UsageError

HEADERS = {
    "id": ("Identifier", "Identifiant"),
    "grade": ("Grade", "Note"),
    "modified_grade": ("Last modified (grade)", "Dernière modification (note)"),
    "feedback": ("Feedback comments", "Feedback par commentaires", "Commentaires de feedback"),
    "submitted": ("Last modified (submission)", "Dernière modification (travail remis)"),
    "max": ("Maximum grade", "Note maximale"),
    "group": ("Group", "Groupe"),
    "fullname": ("Full name", "Nom complet"),
}
REQUIRED = ("id", "grade", "modified_grade")
_PARTICIPANT = re.compile(r"(\d+)\s*$")
_MONTHS = {m: i for i, names in enumerate((
    ("january", "janvier", "jan"), ("february", "février", "fevrier", "feb", "févr"), ("march", "mars", "mar"),
    ("april", "avril", "apr", "avr"), ("may", "mai"), ("june", "juin", "jun"),
    ("july", "juillet", "jul", "juil"), ("august", "août", "aout", "aug"),
    ("september", "septembre", "sep", "sept"), ("october", "octobre", "oct"),
    ("november", "novembre", "nov"), ("december", "décembre", "decembre", "dec", "déc")), 1) for m in names}
_DATE = re.compile(r"(\d{1,2})(?:er)?\s+([^\W\d_]+)\.?\s+(\d{4})\D+(\d{1,2})[:h](\d{2})\s*([AaPp][Mm])?")


@dataclass
class Worksheet:
    path: Path
    text: str                            # the whole file, BOM included, as downloaded
    cells: list[list[tuple[int, int]]]   # per record (header first): each cell's span in ``text``
    values: list[list[str]]              # per record: each cell's value
    columns: dict[str, int]              # "id", "grade", ... -> column index (those found)
    rows: dict[str, int] = field(default_factory=dict)   # participant id -> record index

    @property
    def name(self) -> str:
        return self.path.name

    def cell(self, participant: str, column: str) -> str:
        row, col = self.rows.get(participant), self.columns.get(column)
        if row is None or col is None or col >= len(self.values[row]):
            return ""
        return self.values[row][col]

    def submitted(self, participant: str, zone: str) -> datetime | None:
        """The participant's "Last modified (submission)" time, read in ``zone`` (Moodle writes
        it in the teacher's zone, without saying which); None when empty or unreadable."""
        return parse_moodle_date(self.cell(participant, "submitted"), zone)

    def group(self, participant: str) -> str:
        return self.cell(participant, "group").strip().lower()

    def max_grade(self) -> float | None:
        """The "Maximum grade" of the first participant that has one."""
        for row in self.rows.values():
            text = self.values[row][self.columns["max"]] if "max" in self.columns else ""
            try:
                return float(text.replace(",", ".").replace("\u00a0", "").strip())
            except ValueError:
                continue
        return None


def parse_moodle_date(text: str, zone: str) -> datetime | None:
    """``Thursday, 10 December 2026, 11:59 PM``, ``jeudi 10 décembre 2026, 23:59`` or ISO 8601."""
    text = text.strip()
    if not text or text == "-":
        return None
    try:
        when = datetime.fromisoformat(text)
        return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        pass
    m = _DATE.search(text)
    if not m or m[2].lower() not in _MONTHS:
        return None
    hour = int(m[4])
    if m[6]:
        hour = hour % 12 + (12 if m[6].lower() == "pm" else 0)
    try:
        return datetime(int(m[3]), _MONTHS[m[2].lower()], int(m[1]), hour, int(m[5]), tzinfo=ZoneInfo(zone))
    except ValueError:
        return None


def read(path) -> Worksheet:
    """Read and check a worksheet; ``UsageError`` with one line naming the file otherwise."""
    path = Path(path)
    raw = read_input(path, "the worksheet")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the worksheet {path} is not UTF-8 text (Moodle writes UTF-8; was it saved again "
                         "by a spreadsheet?)") from None
    try:
        cells = _scan(text)
    except ValueError as err:
        raise UsageError(f"the worksheet {path} is not valid CSV: {err}") from None
    values = [[_value(text, span) for span in record] for record in cells]
    parsed = [row for row in csv.reader(io.StringIO(text, newline=""))]
    if [v for v in values if v != [""]] != [r for r in parsed if r]:
        raise UsageError(f"the worksheet {path} could not be read cell by cell as Moodle writes CSV")
    if not values:
        raise UsageError(f"the worksheet {path} is empty")
    header = [h.strip() for h in values[0]]
    if header:
        header[0] = header[0].lstrip("\ufeff").strip()
    columns = {}
    for key, names in HEADERS.items():
        found = [i for i, h in enumerate(header) if h in names]
        if found:
            columns[key] = found[0]
    missing = [HEADERS[k][0] for k in REQUIRED if k not in columns]
    if missing:
        raise UsageError(f"{path} is not a Moodle grading worksheet: no {', '.join(repr(m) for m in missing)} "
                         "column in its first line (English or French headers, comma-separated)")
    sheet = Worksheet(path, text, cells, values, columns)
    for index, row in enumerate(values[1:], 1):
        m = _PARTICIPANT.search(row[columns["id"]]) if len(row) > columns["id"] else None
        if m:
            if m[1] in sheet.rows:
                raise UsageError(f"the worksheet {path} lists participant {m[1]} twice")
            sheet.rows[m[1]] = index
    if not sheet.rows:
        raise UsageError(f"the worksheet {path} has no participant row ('Participant <number>' identifiers)")
    return sheet


def _value(text: str, span: tuple[int, int]) -> str:
    start, end = span
    cell = text[start:end]
    if cell.startswith('"'):
        return cell[1:-1].replace('""', '"')
    return cell


def _scan(text: str) -> list[list[tuple[int, int]]]:
    """Every record's cell spans; a quoted cell's span includes its quotes."""
    records, cells, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j = i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError(f"a quote opened at character {i} is never closed")
                if text.startswith('""', k):
                    j = k + 2
                    continue
                end = k + 1
                break
        else:
            end = i
            while end < n and text[end] not in ',\r\n':
                end += 1
        cells.append((i, end))
        if end < n and text[end] == ",":
            i = end + 1
            if i == n:
                cells.append((i, i))
            continue
        if end < n and text[end] not in "\r\n":
            raise ValueError(f"unexpected character after a quoted cell at character {end}")
        records.append(cells)
        cells = []
        i = end + (2 if text.startswith("\r\n", end) else 1)
    return records
