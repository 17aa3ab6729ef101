"""``similarity.html``: the class's near-duplicate report (``grader.batch.similarity.compare.Result``) as
one self-contained page: the ranked pairs, then each listed pair's code side by side with the
regions the two share highlighted.

Every string that comes from a submission (names, file names, code) is hostile: each one goes
through ``html.escape`` and nothing else builds markup; no script, no external resource (a
Content-Security-Policy forbids both, should an escape ever be missed); anchors are numbers,
never student strings. The same result gives the same bytes (no date, everything sorted).
"""
from html import escape

from grader.batch.similarity import near_duplicates as nd

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; vertical-align: top; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flagged td { background: #fde8e8; }
.pair { margin-top: 2em; border-top: 2px solid #888; }
.side { width: 50%; }
pre { font-size: 12px; line-height: 1.3; white-space: pre-wrap; word-break: break-all; margin: 0; }
mark { background: #ffd54f; }
.missing { color: #888; font-style: italic; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'"
# Side-by-side views of at most this many pairs (the highest): each holds two students' code, so a
# class where everyone copied everyone would otherwise make a page of tens of megabytes.
MAX_DETAILED = 100


def _e(text) -> str:
    return escape(str(text), quote=True)


def _percent(score: float) -> str:
    return f"{100 * score:.0f}%"


def _who(entry) -> str:
    if entry.role == "student":
        return f"{_e(entry.label)} <small>({_e(entry.key)})</small>"
    return f"<i>{_e(entry.label)}</i> <small>({_e(entry.key)})</small>"


def _offsets(text: str) -> list[int]:
    """Where each line starts, lines ending at "\\n" only, as ``tokenize`` counts them (not at
    the other breaks ``str.splitlines`` knows, which a hostile file may hold)."""
    starts, at = [0], text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _highlighted(text: str, regions: list) -> str:
    """The code, escaped, with each shared region in a ``<mark>``."""
    starts = _offsets(text)

    def offset(pos):
        line, col = pos
        return min(len(text), starts[min(line - 1, len(starts) - 1)] + col)
    out, at = [], 0
    for start, end in regions:
        a, b = max(at, offset(start)), offset(end)
        if b <= a:
            continue
        out += [_e(text[at:a]), "<mark>", _e(text[a:b]), "</mark>"]
        at = b
    out.append(_e(text[at:]))
    return "".join(out)


def _side(entry, name: str, regions: dict) -> str:
    if name not in entry.files:
        return '<td class="side missing">no such file</td>'
    return f'<td class="side"><pre>{_highlighted(entry.files[name], regions.get(name, []))}</pre></td>'


def _detail(number: int, pair, kgram: int) -> str:
    ra, rb = nd.shared_lines(pair.a.prints, pair.b.prints, kgram)
    names = sorted(set(pair.a.files) | set(pair.b.files),
                   key=lambda n: (n not in ra and n not in rb, n))   # the files that share code first
    rows = []
    for name in names:
        if name in ra or name in rb:
            rows.append(f'<tr><th colspan="2">{_e(name)}</th></tr>')
            rows.append(f"<tr>{_side(pair.a, name, ra)}{_side(pair.b, name, rb)}</tr>")
        else:   # the skeleton's own files, or code the other side has nothing of: named, not shown
            rows.append(f'<tr><th colspan="2">{_e(name)} <small>(nothing shared)</small></th></tr>')
    flag = " &mdash; <b>flagged</b>" if pair.flagged else ""
    return (f'<div class="pair" id="pair-{number}">\n<h2>{number}. {_percent(pair.score)}{flag}</h2>\n'
            f'<p><a href="#top">back to the list</a></p>\n<table style="width:100%">\n'
            f'<tr><th class="side">{_who(pair.a)}</th><th class="side">{_who(pair.b)}</th></tr>\n'
            + "\n".join(rows) + "\n</table>\n</div>")


def _clusters(result) -> list[str]:
    """One paragraph per cluster: its size, its centre, its scores, its members."""
    clusters = result.clusters
    if not clusters:
        return []
    lines = ["<h2>Clusters</h2>",
             "<p>Entries joined by flagged pairs, three or more: most likely one base shared by all. "
             "Each cluster is named once; the list below shows only the pairs that join its members "
             "most closely (each member beside the one it shares most with).</p>", "<ul>"]
    for i, c in enumerate(clusters, 1):
        low, high = c.scores
        spread = _percent(low) if low == high else f"{_percent(low)}&ndash;{_percent(high)}"
        lines.append(f'<li id="cluster-{i}"><b>Cluster {i}</b>: {len(c.members)} entries, {len(c.pairs)} '
                     f"flagged pairs scoring {spread}, {len(c.spanning)} of them listed. Closest to all the "
                     f"others: {_who(c.centre)} (mean {_percent(c.mean)}). Members: "
                     + ", ".join(_who(e) for e in c.members) + ".</li>")
    return lines + ["</ul>"]


def render(result) -> str:
    shown = result.shown
    where = result.cluster_of()
    others = ", ".join(_e(e.key) for e in result.others) or "none"
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             "<title>Lab 2: similar code</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             '<h1 id="top">Lab 2: similar code</h1>',
             f"<p>{result.students} students compared with each other and with: {others}. "
             f"A pair's score is the share of their winnowed code fingerprints they have in common "
             f"(Jaccard index), once the skeleton's own code is taken out; variables renamed, functions "
             f"reordered, comments and docstrings rewritten do not change it. Pairs at or above "
             f"<b>{_percent(result.threshold)}</b> are flagged (grades.csv, <code>similar_to</code>). "
             f"A flag is a reason to look, not a verdict: the points are unchanged.</p>"]
    for note in result.notes:
        lines.append(f"<p>Note: {_e(note)}</p>")
    lines += _clusters(result)
    if not shown:
        lines.append("<p>No pair shares any code beyond the skeleton.</p>")
    else:
        lines += [f"<p>{len(result.flagged)} flagged pair{'s' if len(result.flagged) != 1 else ''}; "
                  f"{len(shown)} listed below, highest first.</p>",
                  "<table>", "<tr><th>#</th><th>score</th><th>student</th><th>compared with</th><th>cluster</th>"
                  "<th></th></tr>"]
        for i, p in enumerate(shown, 1):
            cls = ' class="flagged"' if p.flagged else ""
            link = f'<a href="#pair-{i}">side by side</a>' if i <= MAX_DETAILED else ""
            number = where.get(p.a.key) if p.flagged else None
            cluster = f'<a href="#cluster-{number}">{number}</a>' if number else ""
            lines.append(f'<tr{cls}><td class="num">{i}</td><td class="num">{_percent(p.score)}</td>'
                         f'<td>{_who(p.a)}</td><td>{_who(p.b)}</td><td class="num">{cluster}</td>'
                         f'<td>{link}{" (flagged)" if p.flagged else ""}</td></tr>')
        lines.append("</table>")
        if len(shown) > MAX_DETAILED:
            lines.append(f"<p>Side by side below: the first {MAX_DETAILED} pairs only.</p>")
        lines += [_detail(i, p, result.kgram) for i, p in enumerate(shown[:MAX_DETAILED], 1)]
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)
