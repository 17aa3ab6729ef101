"""A student's answer as safe HTML: Markdown, with ``$...$`` and ``$$...$$`` drawn as MathML.

Everything here is the student's and hostile. The rules, in the order they apply:
- Markdown (``markdown-it-py``, CommonMark with tables) with raw HTML off: a ``<script>`` or
  ``<svg onload>`` in REPORT.md is shown as text. Links keep their text and lose their target
  (a teacher grading has nowhere to go; ``javascript:`` then has nowhere to hide); an image is
  shown as its alt text and address in code: the batch's own copy of the figure
  (``figure.<ext>``) is the only picture the page shows.
- maths (``mdit-py-plugins``' dollarmath) goes through ``latex2mathml``, whose output is then
  parsed as XML and rebuilt from a whitelist of MathML elements and attributes: text such as
  ``\\text{<svg onload=...>}`` (which the converter copies through as markup) makes the output
  invalid or off-list, and the formula is then shown as its source in code. Hence "escape
  before converting": nothing reaches the page that was not re-serialised by ``ElementTree``.
- a line of plain-text maths (an ``=`` outside ``$``, e.g. ``y_hat = sigmoid(w.x + b)``) is shown
  as code, so ``*`` and ``_`` are not read as emphasis.
- an ASCII drawing (``grader.submission.report_md``'s test) outside a fenced block is shown monospaced.
The page's Content-Security-Policy (``grader.review.app``) forbids inline script as a second wall.
"""
import html
import re
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from grader.submission import report_md

MATHML = "http://www.w3.org/1998/Math/MathML"
_TAGS = {"math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle",
         "merror", "mpadded", "mphantom", "mfenced", "menclose", "msub", "msup", "msubsup", "munder", "mover",
         "munderover", "mmultiscripts", "mprescripts", "none", "mtable", "mtr", "mtd", "semantics"}
_ATTRS = {"display", "mathvariant", "stretchy", "accent", "accentunder", "fence", "separator", "lspace", "rspace",
          "columnalign", "rowalign", "rowspacing", "columnspacing", "columnlines", "rowlines", "frame",
          "movablelimits", "symmetric", "largeop", "minsize", "maxsize", "form", "linethickness", "width",
          "height", "depth", "displaystyle", "scriptlevel", "notation", "open", "close", "separators"}
MAX_FORMULA = 2000   # characters of one formula converted; a longer one is shown as code


def _clean(el: ET.Element) -> ET.Element:
    tag = el.tag.split("}")[-1]
    if tag not in _TAGS:
        raise ValueError(tag)
    out = ET.Element(tag, {k: v for k, v in el.attrib.items() if k in _ATTRS})
    out.text = el.text
    out.tail = el.tail
    for child in el:
        out.append(_clean(child))
    return out


def math_html(latex: str, display: bool) -> str:
    """One formula as whitelisted MathML, or its source as code when it cannot be."""
    if len(latex) <= MAX_FORMULA:
        try:
            tree = ET.fromstring(convert(latex, display="block" if display else "inline"))
            clean = _clean(tree)
            clean.set("xmlns", MATHML)
            clean.set("display", "block" if display else "inline")
            return ET.tostring(clean, encoding="unicode", method="xml")
        except Exception:  # noqa: BLE001 - any failure (a parse error, an off-list tag): the source
            pass
    code = f'<code class="tex">{html.escape(latex)}</code>'
    return f'<pre class="tex">{code}</pre>' if display else code


def _math_inline(self, tokens, idx, options, env):
    return math_html(tokens[idx].content, False)


def _math_block(self, tokens, idx, options, env):
    return math_html(tokens[idx].content, True) + "\n"


def _link_open(self, tokens, idx, options, env):
    return '<span class="link">'


def _link_close(self, tokens, idx, options, env):
    return "</span>"


def _image(self, tokens, idx, options, env):
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return f'<code class="image">[image {html.escape(alt)}: {html.escape(token.attrGet("src") or "")}]</code>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.use(dollarmath_plugin, allow_space=True, allow_digits=True, double_inline=True)
    md.add_render_rule("math_inline", _math_inline)
    md.add_render_rule("math_inline_double", _math_block)
    md.add_render_rule("math_block", _math_block)
    md.add_render_rule("math_block_label", _math_block)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    md.add_render_rule("image", _image)
    return md


_MD = _parser()
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$", re.M)   # a table's |---|---|
_QUOTE = re.compile(r"^\s*(?:>\s*)*")


def _code_span(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _plain_maths_as_code(text: str) -> str:
    """Lines with an ``=`` and no ``$``, outside fences and tables, as code spans."""
    out, fence = [], ""
    for line in text.split("\n"):
        s = line.strip()
        if fence:
            out.append(line)
            if s.startswith(fence):
                fence = ""
            continue
        if s.startswith(("```", "~~~")):
            fence = s[:3]
            out.append(line)
            continue
        found = _QUOTE.match(line)     # always: the pattern matches the empty string
        quote = found.group(0) if found else ""
        left, _, right = line[len(quote):].partition("=")
        if (right.strip() and re.search(r"[A-Za-z0-9)\]]", left) and "$" not in line and "`" not in line
                and not s.startswith(("|", "#"))):
            out.append(quote + _code_span(line[len(quote):].strip()))
        else:
            out.append(line)
    return "\n".join(out)


def _drawing_block(text: str) -> str:
    """An ASCII drawing written outside a fence: fenced, so it keeps its columns."""
    if "```" in text or "~~~" in text or _TABLE_RULE.search(text) or not report_md._ascii_drawing(text):
        return text
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def answer_html(text: str) -> str:
    """The answer's safe HTML (an empty answer: a note saying so)."""
    if not text.strip():
        return '<p class="empty">(no answer)</p>'
    return _MD.render(_plain_maths_as_code(_drawing_block(text)))
