"""The review app (``grader.review``), in process: answers and groups, the maths rendering, the
gradebook, every route through Flask's test client, and the export's bytes. The batch output is
written by hand (``review_class``): no student code runs. The browser tests are
``test_review_browser.py``.
"""
import csv
import io
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from builders import review_class as rc

from grader import PROJECT, cli, manual
from grader.batch.rows import Rows
from grader.review import answers as A
from grader.review import export as export_mod
from grader.review import render, suggest
from grader.review.app import CSP, create_app
from grader.review.gradebook import VERSION, Grade, Gradebook, connect, migrate
from grader.review.grading import Review

TOKEN = "test-token-123"


@pytest.fixture
def out(tmp_path):
    return rc.build(tmp_path / "out", rc.class_of_six())


@pytest.fixture
def items(tmp_path):
    path = tmp_path / "rubric_items.yaml"
    shutil.copy(PROJECT / "rubric_items.yaml", path)
    return path


@pytest.fixture
def review(out, items):
    return Review(out, rc.RUBRIC, items)


@pytest.fixture
def client(review):
    app = create_app(review, token=TOKEN, grader_name="tester")
    c = app.test_client()
    r = c.get(f"/?token={TOKEN}")
    assert r.status_code == 302 and "token" not in r.headers["Location"]
    c.csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").get_data(as_text=True)).group(1)
    return c


def page(client, url):
    r = client.get(url, follow_redirects=True)
    assert r.status_code == 200, (url, r.status_code)
    return r.get_data(as_text=True)


def group_of(review, q, key):
    """The position of ``key``'s group on the question's pages."""
    gb = review.open()
    snap = review.snapshot(q, gb)
    gb.close()
    return next(i for i, g in enumerate(review.merged_groups(q, snap)) if any(a.key == key for a in g.members))


# --- answers and groups --------------------------------------------------------------------------

def test_answers_are_the_report_sections_without_the_template(review):
    a = review.by_key["q1_2"]["DOE_John"]
    assert a.text == rc.RIGHT_Q1_2[0]            # the prompt and "> your answer" are the template's
    assert review.by_key["q1_4"]["DOE_John"].text == ""
    assert "| 3 | 0.97 |" in review.by_key["q2_3"]["SMITH_Bob"].text
    assert review.by_key["q3_1"]["DOE_John"].figure == "figure.png"


def test_spellings_of_one_answer_form_one_group_and_a_wrong_one_never_joins_it(review):
    keys = {a.key: a.group for a in review.answers["q1_2"]}
    assert keys["DOE_John"] == keys["MARTIN_Alice"] == keys["SMITH_Bob"]
    assert keys["DURAND_Zoe"] != keys["DOE_John"]
    assert keys["LEE_Ann"] != keys["DOE_John"]          # equivalent, not identical: a suggestion only
    ln_log = {a.key: a.group for a in review.answers["q1_3"]}
    assert ln_log["DOE_John"] == ln_log["MARTIN_Alice"]   # \ln and \log, \hat y and \hat{y}


# Right and wrong answers of the three expressions, as students write them. A false merge is a
# wrong answer in a right answer's group (or suggested for it).
RIGHT = {
    "q1_2": [r"$\hat y = \sigma(w^T x + b)$", r"$\hat{y} = \sigma\left(w^{\top} x + b\right)$",
             r"$y_hat = \sigma(w^T x + b)$", r"$\hat y=\sigma(w^Tx+b)$", r"> $\hat y = \sigma( w^T x + b )$",
             r"$\hat y = \frac{1}{1+e^{-(w^T x + b)}}$", r"$\hat y = \frac{1}{1 + \exp(-(w^T x+b))}$"],
    "q1_3": [r"$L = -\frac{1}{m}\sum_{i=1}^m y_i \log \hat y_i + (1-y_i)\log(1-\hat y_i)$",
             r"$L = -\frac{1}{m}\sum_{i=1}^{m} y_i \ln \hat{y}_i + (1-y_i)\ln(1-\hat{y}_i)$",
             r"$L=-\frac1m\sum_{i=1}^m y_i\log\hat y_i+(1-y_i)\log(1-\hat y_i)$"],
    "q1_4": [r"$\frac{\partial L}{\partial w} = \frac{1}{m} X^T (\hat y - y)$",
             r"$\frac{\partial L}{\partial w} = \frac{1}{m} X^\top (\hat{y} - y)$",
             r"$\frac{\partial L}{\partial w} = \frac{1}{m} X^{T} \left(y_hat - y\right)$"],
}
WRONG = {
    "q1_2": [r"$\hat y = \sigma(w^T x - b)$", r"$\hat y = w^T x + b$", r"$\hat y = \sigma(w x)$",
             r"$\hat y = \frac{1}{1+e^{(w^T x + b)}}$", r"$\hat y = \tanh(w^T x + b)$"],
    "q1_3": [r"$L = \frac{1}{m}\sum_{i=1}^m y_i \log \hat y_i + (1-y_i)\log(1-\hat y_i)$",
             r"$L = -\sum_{i=1}^m y_i \log \hat y_i + (1-y_i)\log(1-\hat y_i)$",
             r"$L = -\frac{1}{m}\sum_{i=1}^m y_i \log \hat y_i$"],
    "q1_4": [r"$\frac{\partial L}{\partial w} = X^T (\hat y - y)$",
             r"$\frac{\partial L}{\partial w} = \frac{1}{m} X^T (y - \hat y)$",
             r"$\frac{\partial L}{\partial w} = \frac{1}{m} X (\hat y - y)$"],
}


def test_false_merges_on_right_and_wrong_answers_are_zero():
    false_groups = false_suggestions = right_pairs = suggested_right = 0
    for q in RIGHT:
        answers = [A.Answer(f"r{i}", q, t, "") for i, t in enumerate(RIGHT[q])] + \
                  [A.Answer(f"w{i}", q, t, "") for i, t in enumerate(WRONG[q])]
        groups = A.groups(answers, "salt")
        for g in groups:
            kinds = {a.key[0] for a in g.members}
            false_groups += kinds == {"r", "w"}
        by_id = {g.id: {a.key[0] for a in g.members} for g in groups}
        for left, right in suggest.suggestions(groups):
            false_suggestions += by_id[left] != by_id[right]
            suggested_right += by_id[left] == by_id[right] == {"r"}
        right_groups = sum(1 for k in by_id.values() if k == {"r"})
        right_pairs += right_groups - 1
    print(f"false merges: {false_groups} in groups, {false_suggestions} suggested; "
          f"right groups suggested together: {suggested_right} of {right_pairs}")
    assert false_groups == 0 and false_suggestions == 0
    assert suggested_right >= 1        # q1_2's written-out sigmoid is suggested with the sigma form


def test_suggested_merge_is_offered_and_only_merged_when_confirmed(review, client):
    n = group_of(review, "q1_2", "DOE_John")
    html = page(client, f"/q/q1_2/{n}")
    assert "Suggested merges" in html and "Merge group" in html
    assert group_of(review, "q1_2", "LEE_Ann") != n       # not applied by itself
    other = review.by_key["q1_2"]["LEE_Ann"].group
    r = client.post(f"/q/q1_2/{n}/merge", data={"csrf": client.csrf, "other": other})
    assert r.status_code == 302
    assert group_of(review, "q1_2", "LEE_Ann") == group_of(review, "q1_2", "DOE_John")


# --- rendering -------------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "[x](javascript:alert(1))",
    r"$\text{<svg onload=alert(1)>}$", r"$$\text{<img src=x onerror=alert(1)>}$$", r"$\href{javascript:alert(1)}{x}$",
    '<a href="javascript:alert(1)">x</a>', "![x](javascript:alert(1))", r"$\style{color:red}{x}$",
    "\u202e<b>bidi</b>\u0000", "x" * 100_000,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_answers_render_without_markup(text):
    html = render.answer_html(text)
    assert not re.search(r"<(?!/?(?:p|code|pre|span|math|mi|mn|mo|mtext|mrow|em|strong|blockquote)\b)", html)
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html)      # only as text, never an attribute
    assert not re.search(r"\son\w+=", re.sub(r">[^<]*<", "><", html))


def test_maths_tables_plain_maths_and_drawings():
    html = render.answer_html(r"$\hat y = \sigma(w^T x + b)$ and $$L = -\frac{1}{m}\sum_i y_i$$")
    assert html.count("<math ") == 2 and "<mfrac>" in html and 'display="block"' in html
    assert "<table>" in render.answer_html("| digit | acc |\n| --- | --- |\n| 3 | 0.97 |")
    assert "<code>y_hat = sigmoid(w*x + b)</code>" in render.answer_html("y_hat = sigmoid(w*x + b)")
    drawing = "+-----+     +-----+\n| X   |---->| 64  |\n+-----+     +-----+"
    assert "<pre><code" in render.answer_html(drawing)


# --- the gradebook -------------------------------------------------------------------------------------

def test_two_clients_saving_at_once_lose_nothing(tmp_path):
    path = tmp_path / "gb.sqlite"
    Gradebook(path).close()

    def writer(who):
        gb = Gradebook(path)
        for i in range(40):
            gb.set_group("q1_2", f"{who}-{i}", Grade(["correct"], f"by {who}"), who, [(f"{who}{i}", "sha")])
        gb.close()
    threads = [threading.Thread(target=writer, args=(w,)) for w in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gb = Gradebook(path)
    assert len(gb.group_grades("q1_2")) == 80 and len(gb.history("q1_2")) == 80
    assert {h[1] for h in gb.history()} == {"ann", "bob"}


KILLED_WRITER = """
import os, signal, sys
from grader.review.gradebook import Gradebook, Grade
gb = Gradebook(sys.argv[1])
gb.set_group("q1_2", "kept", Grade(["correct"]), "ann")
gb.db.execute("BEGIN IMMEDIATE")
gb.db.execute("INSERT INTO group_grades VALUES ('q1_2', 'half', '{}', 'ann', 0)")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_mid_save_leaves_the_gradebook_whole(tmp_path):
    path = tmp_path / "gb.sqlite"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    gb = Gradebook(path)
    assert set(gb.group_grades("q1_2")) == {"kept"}
    assert gb.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    gb.set_group("q1_2", "after", Grade(), "bob")      # and it takes writes again
    assert set(gb.group_grades("q1_2")) == {"kept", "after"}


def test_a_version_1_gradebook_is_upgraded_in_place_grades_kept(tmp_path):
    path = tmp_path / "gb.sqlite"
    db = connect(path)
    assert migrate(db, upto=1) == 1
    db.execute("INSERT INTO group_grades VALUES ('q1_2', 'g', ?, 'ann', 1.0)", (Grade(["correct"]).to_json(),))
    db.close()
    gb = Gradebook(path)
    assert gb.db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 2
    assert gb.group_grades("q1_2")["g"].items == ["correct"]
    gb.merge("q1_2", "h", "g", "ann")
    assert gb.merges("q1_2") == {"h": "g"}
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        Gradebook(path)


# --- routes: safety --------------------------------------------------------------------------------

def test_every_route_refuses_a_request_without_the_token(review):
    c = create_app(review, token=TOKEN).test_client()
    for url in ("/", "/q/q1_2", "/q/q1_2/0", "/items/q1_2", "/figure/DOE_John", "/static/review.js",
                "/?token=wrong"):
        assert c.get(url).status_code == 403, url
    assert c.post("/export").status_code == 403


def test_headers_forbid_inline_script_and_posts_need_the_csrf_token_and_our_origin(client, review):
    r = client.get("/q/q1_2/0")
    assert r.headers["Content-Security-Policy"] == CSP and "script-src 'self'" in CSP and "unsafe" not in CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.post("/q/q1_2/0/grade", data={"item": "correct"}).status_code == 403
    assert client.post("/q/q1_2/0/grade", data={"item": "correct", "csrf": client.csrf},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/q/q1_2/0/grade", data={"item": "correct", "csrf": client.csrf},
                       headers={"Origin": "http://localhost"}).status_code == 302
    assert "<script" not in page(client, f"/q/q1_2/{group_of(review, 'q1_2', 'EVIL_Mallory')}").split("</header>")[1]


def test_the_figure_route_serves_the_batch_copy_only(client, review):
    r = client.get(f"/figure/{review.anon['DOE_John']}")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(b"\x89PNG")
    assert client.get(f"/figure/{review.anon['MARTIN_Alice']}").status_code == 404      # no figure
    assert client.get("/figure/DOE_John").status_code == 404        # never by the folder key
    assert client.get("/figure/..%2F..%2Fetc").status_code == 404
    assert client.get("/figure/nobody").status_code == 404


# --- routes: grading ------------------------------------------------------------------------------

def test_a_group_graded_once_lands_on_all_its_members_and_names_are_hidden(client, review):
    assert "0 / 6 graded" in page(client, "/")
    n = group_of(review, "q1_2", "DOE_John")
    html = page(client, f"/q/q1_2/{n}")
    assert "<math" in html and "DOE" not in html and "answer " in html
    assert "DOE" in page(client, f"/q/q1_2/{n}?names=1")
    r = client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": ["correct", "shapes"],
                                                 "comment": "say what X is", "adjust": "0"})
    assert r.status_code == 302
    assert "3 / 6 graded" in page(client, "/")
    rows = {k: (p, c) for k, q, p, c in export_mod.manual_rows(review)}
    assert rows == {k: ("0.75", "+1: Right: y_hat = sigmoid(w^T x + b), and for the batch sigmoid(X w + b); "
                             "-0.25: Shapes missing or wrong; say what X is")
                    for k in ("DOE_John", "MARTIN_Alice", "SMITH_Bob")}
    assert "say what X is" in page(client, f"/q/q1_2/{group_of(review, 'q1_2', 'DURAND_Zoe')}")  # the library


def test_save_goes_to_the_next_ungraded_group_and_next_finds_it(client, review):
    n = group_of(review, "q1_2", "DOE_John")
    r = client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": "correct"})
    target = int(r.headers["Location"].rsplit("/", 1)[1])
    assert target != n
    r = client.get(f"/q/q1_2/next?from={n}")
    assert r.headers["Location"].endswith(f"/q/q1_2/{target}")


def test_a_member_can_be_overridden_and_put_back(client, review):
    n = group_of(review, "q1_2", "DOE_John")
    client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": "correct"})
    bob = review.anon["SMITH_Bob"]
    client.post(f"/q/q1_2/{n}/member/{bob}", data={"csrf": client.csrf, "action": "own", "item": "correct",
                                                        "adjust": "-0.5", "comment": "copied the slides"})
    rows = {k: p for k, q, p, c in export_mod.manual_rows(review) if q == "q1_2"}
    assert rows == {"DOE_John": "1", "MARTIN_Alice": "1", "SMITH_Bob": "0.5"}
    client.post(f"/q/q1_2/{n}/member/{review.anon['SMITH_Bob']}", data={"csrf": client.csrf, "action": "group"})
    assert {k: p for k, q, p, c in export_mod.manual_rows(review) if q == "q1_2"}["SMITH_Bob"] == "1"


def test_editing_a_rubric_item_changes_every_grade_that_uses_it(client, review, items):
    n = group_of(review, "q1_2", "DOE_John")
    client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": ["correct", "shapes"]})
    html = page(client, "/items/q1_2")
    assert "no-batch" in html
    form = {"csrf": client.csrf, "id": ["correct", "no-batch", "shapes", "typo"],
            "points": ["1", "-0.5", "-0.5", "-0.1"], "text": ["Right", "No batch", "Shapes!", "A typo"]}
    assert client.post("/items/q1_2", data=form).status_code == 302
    assert {p for k, q, p, c in export_mod.manual_rows(review) if q == "q1_2"} == {"0.5"}
    assert "typo" in items.read_text() and "Shapes!" in items.read_text()     # written back to the file
    form["points"][0] = "7"      # more than the part's 1 point: refused, nothing changed
    r = client.post("/items/q1_2", data=form)
    assert r.status_code == 200 and "more than the written part" in r.get_data(as_text=True)
    assert {p for k, q, p, c in export_mod.manual_rows(review) if q == "q1_2"} == {"0.5"}


def test_unknown_question_or_group_is_404_and_a_bad_adjustment_400(client):
    assert client.get("/q/q9_9/0").status_code == 404
    assert client.get("/q/q1_2/99").status_code == 404
    assert client.post("/q/q1_2/0/grade", data={"csrf": client.csrf, "adjust": "nan"}).status_code == 400
    assert client.post("/q/q1_2/0/grade", data={"csrf": client.csrf, "adjust": "5"}).status_code == 400


# --- a re-run of the batch ----------------------------------------------------------------------------

def test_a_changed_answer_is_marked_for_regrading_and_not_exported(client, review, out, items):
    n = group_of(review, "q1_2", "DOE_John")
    client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": "correct"})
    m = group_of(review, "q1_2", "DURAND_Zoe")
    client.post(f"/q/q1_2/{m}/member/{review.anon['DURAND_Zoe']}",
                data={"csrf": client.csrf, "action": "own", "item": "no-batch"})
    # A resubmission: the next batch rewrites the two students' REPORT.md; the gradebook is kept.
    (out / "students" / "DOE_John" / "REPORT.md").write_text(rc.report_md({"q1_2": rc.WRONG_Q1_2[1]}))
    (out / "students" / "DURAND_Zoe" / "REPORT.md").write_text(rc.report_md({"q1_2": rc.RIGHT_Q1_2[0]}))
    again = Review(out, rc.RUBRIC, items)
    rows = {k: p for k, q, p, c in export_mod.manual_rows(again) if q == "q1_2"}
    assert rows == {"MARTIN_Alice": "1", "SMITH_Bob": "1"}    # Zoé's own grade was for another answer
    gb = again.open()
    snap = again.snapshot("q1_2", gb)
    zoe = again.state(again.by_key["q1_2"]["DURAND_Zoe"], snap)
    assert zoe.stale and not zoe.graded and zoe.grade.items == ["no-batch"]
    assert again.progress("q1_2", snap) == (2, 6)
    c = create_app(again, token=TOKEN).test_client()
    c.get(f"/?token={TOKEN}")
    assert "answer changed, grade again" in page(c, f"/q/q1_2/{group_of(again, 'q1_2', 'DURAND_Zoe')}")


# --- the export --------------------------------------------------------------------------------------

def grade_all_q1_2(client, review):
    n = group_of(review, "q1_2", "DOE_John")
    client.post(f"/q/q1_2/{n}/grade", data={"csrf": client.csrf, "item": ["correct", "shapes"], "comment": "ok"})
    m = group_of(review, "q1_2", "DURAND_Zoe")
    client.post(f"/q/q1_2/{m}/grade", data={"csrf": client.csrf, "item": [], "adjust": "0.25", "comment": "sign"})


def read_csv(path):
    return {r["last_name"]: r for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))}


def test_export_merges_the_hand_points_as_batch_manual_does(client, review, out, tmp_path):
    grade_all_q1_2(client, review)
    before = read_csv(out / "grades.csv")
    r = client.post("/export", data={"csrf": client.csrf})
    assert r.status_code == 200 and "4 hand grades" in r.get_data(as_text=True)
    after = read_csv(out / "grades.csv")
    assert before["DOE"]["q1_2"] == "1" and after["DOE"]["q1_2"] == "1.75"
    assert float(after["DOE"]["total"]) == float(before["DOE"]["total"]) + 0.75
    assert after["DURAND"]["q1_2"] == "1.25" and after["LEE"]["q1_2"] == "1"
    assert after["DOE"]["warnings"].startswith("a note of the intake")            # the row's notes kept
    feedback = (out / "students" / "DOE_John" / "feedback.md").read_text()
    assert "0.75 / 1 (graded by hand)" in feedback and "Shapes missing or wrong" in feedback
    results = json.loads((out / "students" / "DOE_John" / "results.json").read_text())
    assert results["score"] == pytest.approx(float(after["DOE"]["total"]) + float(after["DOE"]["bonus"] or 0), abs=0.01)
    # The same bytes as the batch's own merge of the --manual form the export wrote.
    twin = rc.build(tmp_path / "twin", rc.class_of_six())
    entries = manual.load_batch(out / "review" / "manual.csv", rc.RUBRIC)
    b = Rows(twin, rc.RUBRIC, entries)
    for row in export_mod._rows(twin):
        b.add(row, csv=False)
    b.write_csv()
    assert (twin / "grades.csv").read_bytes() == (out / "grades.csv").read_bytes()
    for key in ("DOE_John", "DURAND_Zoe", "LEE_Ann"):
        for name in ("feedback.md", "results.json", "report.json"):
            assert (twin / "students" / key / name).read_bytes() == (out / "students" / key / name).read_bytes()


def test_export_fills_the_moodle_worksheet_and_feedback_zip(tmp_path, items):
    out = rc.build(tmp_path / "out", rc.class_of_six(), moodle=True)
    review = Review(out, rc.RUBRIC, items)
    gb = review.open()
    g = review.by_key["q1_2"]["DOE_John"].group
    gb.set_group("q1_2", g, Grade(["correct"], "fine"), "tester", [])
    gb.close()
    sheet = out / "moodle" / "Grades-DLCV-Lab2.csv"
    before = sheet.read_bytes()
    export_mod.export(review)
    after = sheet.read_bytes()
    doe_pid = next(r.participant for r in export_mod._rows(out) if r.key == "DOE_John")

    def cells(data):
        return {r[0]: r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r}
    old, new = cells(before)[f"Participant {doe_pid}"], cells(after)[f"Participant {doe_pid}"]
    assert float(old[4]) == 15 and float(new[4]) == 16           # Grade: 15 automatic + 1 by hand
    assert "q1_2" in new[-1] and new[:4] == old[:4] and new[5:-1] == old[5:-1]
    zoe = cells(after)[next(f"Participant {r.participant}" for r in export_mod._rows(out) if r.key == "DURAND_Zoe")]
    assert float(zoe[4]) == 15                                   # not graded by hand: unchanged
    import zipfile
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as z:
        page_ = next(z.read(n).decode() for n in z.namelist() if n.startswith("John DOE_"))
    assert "fine" in page_


def test_cli_export(out, items, capsys):
    gb = Gradebook(out / "gradebook.sqlite")
    gb.set_group("q3_1", A.Answer("x", "q3_1", "", "").group, Grade(["correct", "no-shapes"]), "tester", [])
    gb.close()
    assert cli.main(["review", str(out), "--export", "--items", str(items)]) == 0
    assert "5 hand grades" in capsys.readouterr().out
    assert read_csv(out / "grades.csv")["DOE"]["q3_1"] == "1"
    assert cli.main(["review", str(out / "students"), "--export"]) == 2


def test_the_order_is_shuffled_the_same_for_every_session(out, items):
    one = [g.first.key for g in Review(out, rc.RUBRIC, items).groups["q1_3"]]
    two = [g.first.key for g in Review(out, rc.RUBRIC, items).groups["q1_3"]]
    assert one == two
    orders = {tuple(a.key for a in A.shuffled(Review(out, rc.RUBRIC, items).answers["q1_4"], salt))
              for salt in ("a", "b", "c", "d")}
    assert len(orders) > 1 and tuple(sorted(orders.pop())) != ()    # not alphabetical for every salt


def test_the_items_file_is_validated(tmp_path):
    from grader import rubric as R
    from grader.errors import UsageError
    bad = tmp_path / "items.yaml"
    bad.write_text("version: 1\nquestions:\n  q1_1:\n    - {id: x, points: 1, text: t}\n")
    with pytest.raises(UsageError, match="no written part"):
        R.load_items(bad, rc.RUBRIC)
    bad.write_text("version: 1\nquestions:\n  q1_2:\n    - {id: x, points: 1, text: t}\n"
                   "    - {id: x, points: 1, text: u}\n")
    with pytest.raises(UsageError, match="given twice"):
        R.load_items(bad, rc.RUBRIC)
    assert R.load_items(PROJECT / "rubric_items.yaml", rc.RUBRIC).questions["q3_1"][0].points == 2


