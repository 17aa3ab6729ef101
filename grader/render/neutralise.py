"""Make a string a student controls harmless in the medium it is written to: one function per medium.

Student-controlled strings are everywhere in a grade: archive file names and the student's name
read from them, paths and names inside the archive, exception messages, exception class names,
tracebacks, printed output, REPORT.md's values. Every renderer passes them through this module
at the point where they enter its output, so no text a student typed can:

- run in a spreadsheet: ``csv_cell`` prefixes ``'`` to a text cell that starts (after spaces)
  with ``=``, ``+``, ``-`` or ``@`` (OWASP's "CSV injection" rule; tabs and carriage returns,
  the rule's other two, are removed first like every control character). Numbers are left as
  they are: a negative total stays a number;
- become HTML or Markdown structure: ``md_text`` escapes ``<``, ``>`` and ``&`` as entities and
  backslash-escapes the characters of inline Markdown (emphasis, links, images, code, tables,
  maths) and a line start that would make a heading, a list, a quote or a rule, so
  ``**Total: 20 / 20**`` shows as written and never as the grader's own bold total line;
  ``md_code`` builds a code span and ``md_block`` a fenced block whose fence is longer than any
  run of backticks in the text, so nothing inside can close it (CommonMark shows code literally,
  ``<script>`` included, and no line inside can start a heading);
- drive the terminal: ``terminal`` shows every control character escaped (``\\x1b``, ``\\u202e``):
  no colour change, hidden text, cursor move, OSC 52 clipboard write or bidi reordering;
- break or hide in a file: ``text`` removes control characters (C0 but newline and tab, DEL, C1,
  the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the line and
  paragraph separators) from what goes into files, and shows the undecodable bytes of a file
  name (lone surrogates, ``\\xff``) escaped, so every file is valid UTF-8;
- break a strict JSON parser: ``json_dumps`` never writes ``NaN`` or ``Infinity``: a non-finite
  number becomes ``null`` with a note beside it (key ``<name>_not_finite``: ``"NaN"``,
  ``"Infinity"`` or ``"-Infinity"``, or ``{"<index>": ...}`` for items of a list), which
  ``json_loads`` reads back, so a report round-trips exactly;
- break a plot: ``plot_text`` escapes ``$`` (matplotlib's maths mode).

What this module is not: it does not decide what is student-controlled (the renderers pass it
everything that is not the grader's own fixed wording, to be safe), it never truncates, and it
is not a sanitiser for HTML a student means to be rendered: nothing a student wrote is ever
rendered, only shown. Neutralising twice is as safe as once, but shows the first escapes.
"""
import json
import math
import re

# C0 but \t and \n (\r is handled apart), DEL, C1, bidi embeddings/overrides/isolates, the Unicode
# line and paragraph separators, and lone surrogates (the undecodable bytes of a file name).
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROLS = f"\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029"
_SURROGATES = "\ud800-\udfff"
_FILE_UNSAFE = re.compile(f"[{_CONTROLS}{_SURROGATES}]")
_TERMINAL_UNSAFE = re.compile(f"[\t\r{_CONTROLS}{_SURROGATES}]")
_SPACES = re.compile(r"\s+")

_CSV_FORMULA = ("=", "+", "-", "@")

# Inline Markdown (CommonMark + GFM tables, strikethrough and $maths$): escaped anywhere, but for
# "_" between two letters or digits, which can neither open nor close emphasis ("q1_3" stays).
_MD_INLINE = re.compile(r"([\\`*\[\]|~$]|(?<![^\W_])_|_(?![^\W_]))")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# What makes a line a heading, a quote, a list item, a rule, a setext underline or a table row.
_MD_LINE_START = re.compile(r"^(\s*)([#>+=:-]|\d+[.)])")

NOT_FINITE = "_not_finite"


def _escaped(ch: str) -> str:
    """A character as a visible escape: ``\\x1b``, ``\\u202e``; an undecodable byte as ``\\xff``."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:       # surrogateescape: the raw byte of a file name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _surrogates_shown(s: str) -> str:
    return re.sub(f"[{_SURROGATES}]", lambda m: _escaped(m.group()), s)


# --- plain text: files and the terminal -----------------------------------------------------------

def text(value, *, newlines: bool = True) -> str:
    """For files (JSON strings, plain text): control characters removed, undecodable bytes shown
    as ``\\xNN``. Newlines (``\\r\\n`` and ``\\r`` made ``\\n``) and tabs are kept unless
    ``newlines=False``, which turns every run of whitespace into one space (one line)."""
    s = _surrogates_shown(str(value))
    s = s.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    s = _FILE_UNSAFE.sub("", s)
    return s if newlines else _SPACES.sub(" ", s).strip()


def line(value) -> str:
    """One line of file text: ``text`` with every run of whitespace (newlines included) one space."""
    return text(value, newlines=False)


def terminal(value, *, newlines: bool = True) -> str:
    """For the terminal: every control character, tab and carriage return shown escaped
    (``\\x1b[8m`` prints as those six characters); newlines kept unless ``newlines=False``
    (then shown as ``\\n`` too, for one-line output)."""
    s = str(value)
    if not newlines:
        s = s.replace("\n", "\\n")
    return _TERMINAL_UNSAFE.sub(lambda m: _escaped(m.group()), s)


# --- CSV ------------------------------------------------------------------------------------------

def csv_cell(value):
    """A cell of a CSV a spreadsheet will open: a string is made one line (controls removed) and
    prefixed with ``'`` when it starts with a formula character; a number is returned as it is."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    s = line(value)
    return "'" + s if s.lstrip()[:1] in _CSV_FORMULA else s


# --- Markdown -------------------------------------------------------------------------------------

def md_text(value) -> str:
    """Student text as inline Markdown, one line: shows as written, never as markup or HTML.

    Safe anywhere a line of Markdown may hold text: at a line start, in a list item, a heading,
    a table cell (``|`` is escaped), between ``**``.
    """
    s = line(value)
    s = _MD_INLINE.sub(r"\\\1", s)
    s = "".join(_MD_ENTITIES.get(ch, ch) for ch in s)
    m = _MD_LINE_START.match(s)
    if m:  # "# x", "> x", "- x", "1. x", "=== ": the backslash keeps them text
        start = m.start(2) + (len(m.group(2)) - 1 if m.group(2)[0].isdigit() else 0)
        s = s[:start] + "\\" + s[start:]
    return s


def _fence_length(s: str, at_least: int) -> int:
    return max([at_least] + [len(run) + 1 for run in re.findall("`+", s)])


def md_code(value, *, table: bool = False) -> str:
    """Student text as an inline code span (one line), whatever backticks it holds: the span's
    fence is one backtick longer than the text's longest run. ``table=True`` escapes ``|``,
    which GFM reads as a cell border even inside a code span (and then shows without the ``\\``)."""
    s = line(value)
    if not s:
        return ""
    ticks = "`" * _fence_length(s, 1)
    pad = " " if s[0] in "` " or s[-1] in "` " else ""
    if table:
        s = s.replace("|", "\\|")
    return f"{ticks}{pad}{s}{pad}{ticks}"


def md_block(value, indent: str = "") -> list[str]:
    """Student text (several lines) as the lines of a fenced code block, each prefixed by
    ``indent`` (to sit in a list item): shown literally; no line inside can close the fence."""
    s = text(value).strip("\n")
    fence = "`" * _fence_length(s, 3)
    return [f"{indent}{fence}", *(f"{indent}{row}".rstrip() for row in s.split("\n")), f"{indent}{fence}"]


# --- JSON -----------------------------------------------------------------------------------------

def _finite_or_note(x: float):
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _is_bad_float(x) -> bool:
    return isinstance(x, float) and not math.isfinite(x)


def _clean(value, notes: dict, path: str):
    """``value`` ready for strict JSON: strings cleaned, non-finite floats None (recorded in
    ``notes`` under their path below the nearest dict key)."""
    if isinstance(value, str):
        return text(value)
    if _is_bad_float(value):
        notes[path] = _finite_or_note(value)
        return None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = text(k)
            inner: dict = {}
            out[key] = _clean(v, inner, "")
            if inner:
                out[key + NOT_FINITE] = inner[""] if list(inner) == [""] else dict(sorted(inner.items()))
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, notes, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
    return value


def jsonable(value):
    """``value`` with its strings cleaned and its non-finite numbers replaced (see the module)."""
    if _is_bad_float(value):
        return None     # a bare number has nowhere to put a note
    return _clean(value, {}, "")


def json_dumps(value, *, indent=None) -> str:
    """Strict JSON text (``allow_nan=False``), UTF-8-safe, with notes for non-finite numbers."""
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False, allow_nan=False)


def _refuse(name):
    raise ValueError(f"not strict JSON: {name}")


_VALUES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _put_back(holder, where: str, label) -> None:
    """Set the list item at ``where`` ("3" or "2.5") below ``holder`` back to its value."""
    try:
        *outer, last = [int(part) for part in where.split(".")]
        for index in outer:
            holder = holder[index]
        if holder[last] is None and label in _VALUES:
            holder[last] = _VALUES[label]
    except (ValueError, IndexError, TypeError):
        pass   # a note that does not fit its value is left out, never guessed


def _restore(obj: dict) -> dict:
    for key in [k for k in obj if k.endswith(NOT_FINITE) and k[: -len(NOT_FINITE)] in obj]:
        base, note = key[: -len(NOT_FINITE)], obj.pop(key)
        if isinstance(note, str):
            if obj[base] is None and note in _VALUES:
                obj[base] = _VALUES[note]
        elif isinstance(note, dict):
            for where, label in note.items():
                _put_back(obj[base], where, label)
    return obj


def json_loads(text_: str):
    """Parse strict JSON (``NaN``/``Infinity`` refused) and put back the non-finite numbers
    ``json_dumps`` wrote as ``null`` with a note."""
    return json.loads(text_, parse_constant=_refuse, object_hook=_restore)


# --- plots ----------------------------------------------------------------------------------------

def plot_text(value) -> str:
    """A label for matplotlib: one line, controls removed, ``$`` escaped (no maths mode)."""
    return line(value).replace("$", r"\$")
