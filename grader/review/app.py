"""The review app's web side: Flask routes over a ``grading.Review`` and its gradebook.

Safety, since every answer is a student's (hostile) text:
- a secret token (printed with the address, like Jupyter's) is required on every request: given
  once as ``?token=``, it becomes an HttpOnly, SameSite=Strict cookie and the address is
  reloaded without it; a request with neither gets 403;
- every form carries a CSRF token derived from the secret, and a POST whose ``Origin`` is
  another site is refused (the SameSite cookie already keeps cross-site posts out);
- Jinja auto-escapes every value; the answers' HTML is ``render.answer_html``'s (Markdown with raw
  HTML off, MathML rebuilt from a whitelist); each response sends a Content-Security-Policy
  with no inline script or style, no other origin, no frames, and ``nosniff``;
- the server binds to 127.0.0.1 unless told otherwise (``serve``).
Routes: ``/`` (questions, progress, export), ``/q/<q>/<n>`` (the n-th answer group in the
stable order; POST ``.../grade``, ``.../member/<key>``, ``.../merge``), ``/q/<q>/next`` (next
ungraded), ``/items/<q>`` (edit the rubric items), ``/figure/<key>``, POST ``/export``.
"""
import getpass
import hashlib
import hmac
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, render_template, request, send_file, url_for
from markupsafe import Markup

from grader.batch.outdir import OutDir
from grader.errors import UsageError
from grader.render.common import pts
from grader.review import export as export_mod
from grader.review import render
from grader.review.gradebook import Grade
from grader.submission.figure import NAMES as FIGURE_NAMES

COOKIE = "review_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'; connect-src 'self'")
MAX_COMMENT = 2000


def create_app(review, *, token: str | None = None, grader_name: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config["TOKEN"] = token or secrets.token_urlsafe(24)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    csrf = hmac.new(app.config["TOKEN"].encode(), b"csrf", hashlib.sha256).hexdigest()
    who = grader_name or getpass.getuser()
    html_cache: dict[str, Markup] = {}

    def answer_html(a) -> Markup:
        if a.sha not in html_cache:
            html_cache[a.sha] = Markup(render.answer_html(a.text))  # noqa: S704 - the whitelisting renderer's output
        return html_cache[a.sha]

    @app.before_request
    def _auth():
        given = request.args.get("token")
        if given is not None and hmac.compare_digest(given, app.config["TOKEN"]):
            args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "token"}
            resp = redirect(url_for(request.endpoint, **(request.view_args or {}), **args)
                            if request.endpoint else "/")
            resp.set_cookie(COOKIE, app.config["TOKEN"], httponly=True, samesite="Strict")
            return resp
        cookie = request.cookies.get(COOKIE, "")
        if not hmac.compare_digest(cookie, app.config["TOKEN"]):
            abort(403)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.host:
                abort(403)
            if not hmac.compare_digest(request.form.get("csrf", ""), csrf):
                abort(403)

    @app.after_request
    def _headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.context_processor
    def _globals():
        return {"csrf": csrf, "pts": pts, "names": request.args.get("names") == "1",
                "titles": {q: review.rubric.questions[q].manual_title or review.rubric.questions[q].title
                           for q in review.questions}}

    def _question(q):
        if q not in review.questions:
            abort(404)
        return q

    def _snap(q):
        gb = review.open()
        try:
            return review.snapshot(q, gb), gb.comments(q)
        finally:
            gb.close()

    def _first_ungraded(q, groups, snap, after=-1):
        n = len(groups)
        for i in list(range(after + 1, n)) + list(range(0, after + 1)):
            if not all(review.state(a, snap).graded for a in groups[i].members):
                return i
        return None

    @app.get("/")
    def index():
        rows = []
        gb = review.open()
        try:
            for q in review.questions:
                snap = review.snapshot(q, gb)
                done, total = review.progress(q, snap)
                rows.append((q, done, total, len(review.merged_groups(q, snap))))
        finally:
            gb.close()
        return render_template("index.html", rows=rows, out=str(review.out))

    @app.get("/q/<q>")
    def question(q):
        return redirect(url_for("next_ungraded", q=_question(q), **_keep()))

    @app.get("/q/<q>/next")
    def next_ungraded(q):
        _question(q)
        snap, _ = _snap(q)
        groups = review.merged_groups(q, snap)
        after = request.args.get("from", type=int, default=-1)
        n = _first_ungraded(q, groups, snap, after)
        return redirect(url_for("group", q=q, n=n if n is not None else max(0, after), **_keep()))

    @app.get("/q/<q>/<int:n>")
    def group(q, n):
        _question(q)
        snap, library = _snap(q)
        groups = review.merged_groups(q, snap)
        if not 0 <= n < len(groups):
            abort(404)
        g = groups[n]
        members = []
        for a in g.members:
            st = review.state(a, snap)
            members.append({"a": a, "state": st, "label": f"answer {_label(q, a.key)}", "anon": review.anon[a.key],
                            "points": pts(review.points(q, st.grade)) if st.grade else ""})
        group_grade = snap["group"].get(g.id)
        forms = []
        seen = set()
        for a in g.members:
            if a.group not in seen:
                seen.add(a.group)
                count = sum(m.group == a.group for m in g.members)
                forms.append({"html": answer_html(a), "raw": a.text, "count": count, "truncated": a.truncated,
                              "has_report": a.has_report})
        ids = {x.id for x in groups}
        suggestions = []
        for left, right in review.suggested.get(q, []):
            a, b = review.canonical(left, snap["merges"]), review.canonical(right, snap["merges"])
            if a == b or g.id not in (a, b):
                continue
            other = b if a == g.id else a
            if other in ids:
                idx = next(i for i, x in enumerate(groups) if x.id == other)
                suggestions.append({"id": other, "n": idx, "html": answer_html(groups[idx].first)})
        figure_anon = next((m["anon"] for m in members if m["a"].figure), "")
        status = [("graded" if all(review.state(a, snap).graded for a in x.members) else "todo") for x in groups]
        done, total = review.progress(q, snap)
        return render_template("question.html", q=q, n=n, count=len(groups), g=g, members=members,
                               forms=forms, grade=group_grade, items=review.question_items(q),
                               max_points=review.max_points(q), library=library, suggestions=suggestions,
                               figure_key=figure_anon, status=status, done=done, total=total,
                               group_points=pts(review.points(q, group_grade)) if group_grade else "",
                               labels=[_label(q, x.first.key) for x in groups])

    def _label(q, key):
        """An anonymous label: the position of the student in the question's stable order."""
        order = review.__dict__.setdefault("_labels", {})
        if q not in order:
            from grader.review.answers import shuffled
            order[q] = {a.key: i + 1 for i, a in enumerate(shuffled(review.answers[q], review.salt))}
        return order[q].get(key, 0)

    def _keep():
        return {"names": "1"} if request.args.get("names") == "1" else {}

    def _grade_from_form(q) -> Grade:
        known = {i.id for i in review.question_items(q)}
        items = [i for i in request.form.getlist("item") if i in known]
        try:
            adjust = float((request.form.get("adjust") or "0").replace(",", "."))
        except ValueError:
            abort(400)
        if adjust != adjust or abs(adjust) > review.max_points(q):
            abort(400)
        return Grade(items, (request.form.get("comment") or "")[:MAX_COMMENT], adjust)

    @app.post("/q/<q>/<int:n>/grade")
    def save_group(q, n):
        _question(q)
        snap, _ = _snap(q)
        groups = review.merged_groups(q, snap)
        if not 0 <= n < len(groups):
            abort(404)
        g = groups[n]
        grade = None if request.form.get("action") == "clear" else _grade_from_form(q)
        gb = review.open()
        try:
            gb.set_group(q, g.id, grade, who, [(a.key, a.sha) for a in g.members])
            snap = review.snapshot(q, gb)
        finally:
            gb.close()
        nxt = _first_ungraded(q, groups, snap, n)
        return redirect(url_for("group", q=q, n=n if nxt is None else nxt, **_keep()))

    @app.post("/q/<q>/<int:n>/member/<anon>")
    def save_member(q, n, anon):
        _question(q)
        key = review.by_anon.get(anon, "")
        a = review.by_key[q].get(key)
        if a is None:
            abort(404)
        grade = None if request.form.get("action") == "group" else _grade_from_form(q)
        gb = review.open()
        try:
            gb.set_own(q, key, a.sha, grade, who)
        finally:
            gb.close()
        return redirect(url_for("group", q=q, n=n, **_keep()))

    @app.post("/q/<q>/<int:n>/merge")
    def merge(q, n):
        _question(q)
        snap, _ = _snap(q)
        groups = review.merged_groups(q, snap)
        if not 0 <= n < len(groups):
            abort(404)
        other = request.form.get("other", "")
        if other not in {x.id for x in groups} or other == groups[n].id:
            abort(400)
        gb = review.open()
        try:
            gb.merge(q, other, groups[n].id, who)
        finally:
            gb.close()
        snap, _ = _snap(q)
        groups2 = review.merged_groups(q, snap)
        keep = next((i for i, x in enumerate(groups2) if x.id == groups[n].id), 0)
        return redirect(url_for("group", q=q, n=keep, **_keep()))

    @app.route("/items/<q>", methods=["GET", "POST"])
    def items(q):
        _question(q)
        error = ""
        if request.method == "POST":
            ids, points, texts = (request.form.getlist(f) for f in ("id", "points", "text"))
            new = []
            try:
                for i, p, t in zip(ids, points, texts, strict=True):
                    if not i.strip() and not t.strip():
                        continue      # the empty row for a new item
                    new.append({"id": i.strip(), "points": float(p.replace(",", ".")), "text": t.strip()})
                review.save_items(q, new)
                return redirect(url_for("items", q=q, saved=1))
            except (ValueError, UsageError) as err:
                error = str(err).splitlines()[0]
        return render_template("items.html", q=q, items=review.question_items(q), error=error,
                               saved=request.args.get("saved"), max_points=review.max_points(q))

    @app.get("/figure/<anon>")
    def figure(anon):
        key = review.by_anon.get(anon)
        if key is None:
            abort(404)
        folder = OutDir(review.out).student(key)
        for name in FIGURE_NAMES:
            path = folder / name
            if path.is_file() and not path.is_symlink():
                return send_file(path, mimetype={"jpg": "image/jpeg"}.get(path.suffix[1:], f"image/{path.suffix[1:]}"))
        abort(404)

    @app.post("/export")
    def export():
        notes = export_mod.export(review)
        return render_template("export.html", notes=notes)

    return app


def serve(review, host: str, port: int, grader_name: str | None = None) -> None:
    """Serve until Ctrl-C; prints the address with its token."""
    from werkzeug.serving import make_server
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host}: anyone who can reach this address and has the token can grade; "
              "the connection is not encrypted", file=sys.stderr)
    app = create_app(review, grader_name=grader_name)
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    print(f"review app on http://{shown}:{server.server_port}/?token={app.config['TOKEN']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()



