"""Renderers: a ``Report`` in, text or a dict out; they read the report tree and nothing else.

- ``render_terminal(report, width=None, color=False) -> str``: the table shown after grading;
- ``render_markdown(report) -> str``: the student's feedback.md;
- ``to_gradescope(report) -> dict`` / ``write_json(report, path)``: Gradescope's results.json.

Every string a student controls is passed through ``neutralise`` (one function per medium:
CSV, Markdown, terminal, JSON, plot labels) where it enters an output; ``grader.render.summary_md``
(grades.csv, summary.md), ``grader.render.plots`` and ``grader.batch.run`` use it too.
"""
from grader.render.gradescope import to_gradescope, write_json
from grader.render.markdown import render as render_markdown
from grader.render.terminal import render as render_terminal

__all__ = ["render_terminal", "render_markdown", "to_gradescope", "write_json"]
