"""Reading the student's REPORT.md: the ``loss_500`` block, and whether Q3.1 has a figure.

REPORT.md is written by hand by students, so the parser tolerates what they really type (a
``yml`` or ``YAML`` fence, CRLF, tabs, quoted numbers, decimal commas, extra keys) and, when it
gives up, says why in one sentence the student can act on.

REPORT.md is untrusted input, read under bounds so that no REPORT.md within the archive caps
stops a grade or takes the grader's memory (``bench/report_md.py`` measures the hostile ones):
- only its first ``MAX_REPORT_BYTES`` are read (``read``), and every function here caps its text
  at ``MAX_REPORT_CHARS`` again; what lies beyond is not looked at (the reason says so);
- YAML is read by a safe loader (no Python tags) that refuses aliases (``*name``: a few hundred
  bytes of them expand to gigabytes) and nesting deeper than ``MAX_YAML_DEPTH``, and only for
  a block of at most ``MAX_YAML_CHARS`` (else its ``loss_500`` lines alone), at most
  ``MAX_BLOCKS`` blocks; any failure of the loader is "not valid YAML", never an exception;
- a value is a float or "not a number": integers are never built from their digits (a 5,001-digit
  one is past Python's limit, a 401-digit one past float's), a value longer than
  ``MAX_VALUE_CHARS`` is not a number, a huge decimal overflows to ``inf`` as float() does;
- every regular expression is linear in its input (no pattern that rescans from each start);
- every student string in a message is cut to a few dozen characters (``_shown``).
"""
import os
import re
import reprlib
from pathlib import Path

import yaml

from lab2check import questions

_YAML_INFO = ("yaml", "yml")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_MISSING = ("", "~", "null", "none", "-", "n/a", "na")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".webp", ".bmp", ".tif", ".tiff")
# Names that suggest the architecture figure rather than, say, a loss curve: tried first.
_FIGURE_HINT = re.compile(r"arch|network|reseau|réseau|model|schema|schéma|diagram|q3|figure|mlp", re.I)
_DIAGRAM_INFO = ("mermaid", "dot", "graphviz", "plantuml", "tikz")
# Strokes of a drawing. Not "()=*/_": formulas (the Q1.2-Q1.4 answers) are full of them.
_DRAWING_CHARS = set("-|+<>[]\\") | set("─│┌┐└┘├┤┬┴┼→←↑↓═║╔╗╚╝●○")
# Links to an image: ![alt](path) and <img ... src="path">. Neither part may cross the start of
# another ("[" in the alt text, "<" in the tag), so a search is linear: each character is scanned
# from one start at most (`<img ` repeated 300 KB was quadratic with `<img[^>]*src=`).
_MD_IMAGE = re.compile(r"!\[[^\[\]]*\]\(\s*<?([^)\s>]+)")
_HTML_IMAGE = re.compile(r"<img\b[^<>]*?\bsrc\s*=\s*[\"']([^\"'<>]+)", re.I)

MAX_REPORT_BYTES = 2 << 20     # of REPORT.md read at all: ten times the longest report seen
MAX_REPORT_CHARS = MAX_REPORT_BYTES
MAX_YAML_CHARS = 64 << 10      # a block given to the YAML loader (the contract's is 100 bytes)
MAX_YAML_DEPTH = 16            # nested lists and mappings in it
MAX_BLOCKS = 16                # blocks holding loss_500 tried, in order
MAX_VALUE_CHARS = 64           # a number as written ("0.0320000..." with 60 digits is still one)
_SHOWN = reprlib.Repr()   # Python 3.11's takes no arguments
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 4, 4
_SHOWN.maxstring = _SHOWN.maxother = _SHOWN.maxlong = 40


def read(path) -> str:
    """REPORT.md's text, at most ``MAX_REPORT_BYTES`` of it (one more byte when it is longer, so
    that the parsers can tell it was cut), undecodable bytes replaced."""
    with open(path, "rb") as f:
        return f.read(MAX_REPORT_BYTES + 1).decode("utf-8", errors="replace")


def _shown(value) -> str:
    """A student's value for a message: its repr, cut (a bounded walk: never the whole value)."""
    text = _SHOWN.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounded(text: str) -> tuple[str, bool]:
    """``text`` cut to ``MAX_REPORT_CHARS``, and whether it was longer."""
    return text[:MAX_REPORT_CHARS], len(text) > MAX_REPORT_CHARS


class _Refused(yaml.YAMLError):
    """What the loader does not read, in words that end "the block holding loss_500 ..."."""


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases, with a bounded depth, and with integers kept as their
    text (``_number`` reads them as floats; ``int()`` of 5,001 digits raises, ``float()`` of a
    401-digit int overflows)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _Refused("uses a YAML alias (*name), which is not read: write each value out")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(f"nests lists or mappings more than {MAX_YAML_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Int(str):
    """A YAML integer as written."""


def _int_as_written(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> _Int:
    return _Int(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:int", _int_as_written)


def _blocks(text: str) -> list[tuple[str, str]]:
    """Fenced code blocks as (info string, content), in order (CommonMark's fence rules, simplified)."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2).lower()
        body, i = [], i + 1
        while i < len(lines):
            if _closes(lines[i], fence):
                break
            body.append(lines[i])
            i += 1
        blocks.append((info, "\n".join(body)))
        i += 1  # past the closing fence (or the end: an unclosed block runs to the end)
    return blocks


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes a block opened by ``fence``: as many of its characters or more,
    and nothing else. Linear in the line, whatever the fence's length (no ``fence[0] * n`` built
    per line: a fence of a million backticks made that quadratic)."""
    close = line.strip()
    return len(close) >= len(fence) and not close.strip(fence[0])


def _loss_500_lines(content: str) -> str:
    """Only the ``loss_500:`` line and the lines indented under it, for a block whose other
    keys are not valid YAML."""
    lines = content.split("\n")
    for i, line in enumerate(lines):
        if re.match(r"\s*loss_500\s*:", line, re.I):
            indent = len(line) - len(line.lstrip())
            kept = [line[indent:]]
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                kept.append(nxt[indent:] if nxt.strip() else "")
            return "\n".join(kept)
    return content


def _load(content: str):
    """``(found, value)`` of the ``loss_500`` key; ``(False, why)`` when the block is not read."""
    why = "is not valid YAML"
    for candidate in (content, _loss_500_lines(content)):
        if len(candidate) > MAX_YAML_CHARS:
            why = f"is too long to be read ({len(candidate)} characters, at most {MAX_YAML_CHARS})"
            continue
        try:
            data = yaml.load(candidate, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
        except _Refused as err:
            why = str(err)
            continue
        except Exception:  # noqa: BLE001 - whatever the loader fails on is the student's invalid YAML
            why = "is not valid YAML"
            continue
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(key, str) and key.strip().lower() == "loss_500":
                    return True, value
    return False, why


def _number(model: str, value) -> float | None:
    """A loss value as written: 0.032, "0.032", "0,032", "3.2e-2", null -> float or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"loss_500.{model} is {_shown(value)}, not a number")
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        t = value.strip()
        if t.lower() in _MISSING:
            return None
        if len(t) > MAX_VALUE_CHARS:
            raise ValueError(f"loss_500.{model} is a value of {len(t)} characters ({_shown(t)}), not a number")
        if t.count(",") == 1 and "." not in t:
            t = t.replace(",", ".")  # a decimal comma
        try:
            return float(t)
        except ValueError:
            pass
    raise ValueError(f"loss_500.{model} is {_shown(str(value) if isinstance(value, _Int) else value)}, "
                     "not a number")


def parse_loss_500(text: str) -> tuple[dict[str, float | None] | None, str | None]:
    """The ``loss_500`` block of REPORT.md.

    Returns ``({"single_neuron": float|None, "hidden_layer": ..., "multiclass": ...}, None)``
    (the registry's reported models; a model the block leaves out is None), or ``(None, reason)``
    when there is no usable block.
    A value written ``nan``/``inf`` is kept as it is: the student saw a run diverge and said so.
    """
    text, cut = _bounded(text)
    beyond = f" (only the first {MAX_REPORT_BYTES >> 20} MB of REPORT.md are read)" if cut else ""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = [(info, body) for info, body in _blocks(text) if "loss_500" in body.lower()]
    if not blocks:
        if "loss_500" in text.lower():
            return None, "loss_500 is in REPORT.md but not inside a fenced ```yaml code block" + beyond
        return None, "REPORT.md has no fenced ```yaml block holding loss_500" + beyond
    # A yaml-tagged block first; an untagged one is accepted too (students forget the tag).
    blocks.sort(key=lambda b: b[0] not in _YAML_INFO)
    models = tuple(questions.reported_models())  # single_neuron, hidden_layer, multiclass
    both = f"{', '.join(models[:-1])} and {models[-1]}" if len(models) > 1 else models[0]
    errors = []
    for _info, body in blocks[:MAX_BLOCKS]:
        # YAML forbids tabs in indentation; a student's editor does not care.
        found, value = _load(body.replace("\t", "  "))
        if not found:
            errors.append(f"the block holding loss_500 {value}")
            continue
        if not isinstance(value, dict):
            errors.append(f"loss_500 must hold {both}, one per line")
            continue
        named = {re.sub(r"[\s\-]+", "_", str(k).strip().lower()): v for k, v in value.items()}
        if not any(m in named for m in models):
            errors.append(f"loss_500 has none of {', '.join(models)}")
            continue
        try:
            return {m: _number(m, named.get(m)) for m in models}, None
        except ValueError as err:
            errors.append(str(err))
    return None, errors[0]


def image_files(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):  # never follows symlinks into other folders
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__MACOSX", "__pycache__"))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    # The most likely architecture figure first (a name hint), then the order on disk.
    return sorted(found, key=lambda p: not _FIGURE_HINT.search(p))


def _is_drawing_line(line: str) -> bool:
    s = line.strip()
    return len(s) >= 3 and sum(ch in _DRAWING_CHARS for ch in s) >= max(3, len(s) // 4)


def _is_connector_line(line: str) -> bool:
    """A line of a drawing made only of strokes, like a lone '|' or 'v' between two boxes."""
    s = line.strip()
    return bool(s) and all(ch in _DRAWING_CHARS or ch in "vV^ " for ch in s)


def _ascii_drawing(text: str) -> bool:
    """Three or more consecutive lines of strokes (boxes, arrows), two of them substantial."""
    run = strong = 0
    for line in text.split("\n"):
        if _is_drawing_line(line) or _is_connector_line(line):
            run, strong = run + 1, strong + _is_drawing_line(line)
            if run >= 3 and strong >= 2:
                return True
        else:
            run = strong = 0
    return False


def find_figure(submission_root, report_text: str = "") -> str | None:
    """Where Q3.1's architecture figure seems to be, in a few words, or None. Informative only:
    the figure is graded by hand; this only tells the teacher (and the student) what was found."""
    if submission_root is not None and Path(submission_root).is_dir():
        images = image_files(Path(submission_root))
        if images:
            return f"image file {cut(images[0])}"
    text = _bounded(report_text or "")[0].replace("\r\n", "\n")
    link = _MD_IMAGE.search(text) or _HTML_IMAGE.search(text)
    if link:
        return f"image link {cut(link.group(1))} in REPORT.md"
    for info, _body in _blocks(text):
        if info in _DIAGRAM_INFO:
            return f"{info} diagram in REPORT.md"
    # Drawings are looked for outside the loss_500 block and tables, whose lines look alike.
    prose = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("|"))
    for _, body in _blocks(prose):
        if "loss_500" not in body and _ascii_drawing(body):
            return "ASCII drawing in REPORT.md"
    if _ascii_drawing(_strip_blocks(prose)):
        return "ASCII drawing in REPORT.md"
    return None


def cut(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters (a student value in a message)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _strip_blocks(text: str) -> str:
    """``text`` without its fenced blocks (so a YAML block is not taken for a drawing)."""
    out, inside, fence = [], False, ""
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if not inside and m:
            inside, fence = True, m.group(1)
            continue
        if inside:
            if _closes(line, fence):
                inside = False
            continue
        out.append(line)
    return "\n".join(out)
