"""The review app in a real browser: Debian's chromium driven by its chromium-driver (a matched
pair, installed by ``make setup`` through apt-get when root) through Selenium, headless.

A teacher grades q1_2 of a class of six (``review_class.class_of_six``) with the keyboard only,
edits a rubric item afterwards, exports, and finds it in grades.csv and feedback.md; the hostile
answer (a ``<script>``, an ``onerror``, ``\\text{<svg onload>}``, a ``javascript:`` link) runs
nothing: ``document.title`` stays the app's, no dialog opens. A screenshot of the question page
is written to the test's temporary folder.
"""
import csv
import io
import shutil
import threading
import time

import pytest
from builders import review_class as rc

from grader import PROJECT
from grader.review import export as export_mod
from grader.review.app import create_app
from grader.review.grading import Review

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromium-driver are not installed "
                                "(make setup installs them through apt-get when root)")
TOKEN = "browser-token"


@pytest.fixture
def served(tmp_path):
    from werkzeug.serving import make_server
    out = rc.build(tmp_path / "out", rc.class_of_six())
    items = tmp_path / "rubric_items.yaml"
    shutil.copy(PROJECT / "rubric_items.yaml", items)
    review = Review(out, rc.RUBRIC, items)
    server = make_server("127.0.0.1", 0, create_app(review, token=TOKEN, grader_name="browser"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", review, out
    server.shutdown()
    thread.join()


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def press(driver, *keys):
    body = driver.find_element(By.TAG_NAME, "body")
    for k in keys:
        body.send_keys(k)


def wait_for(driver, condition, what, seconds=10):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; at {driver.current_url}")


def no_dialog(driver):
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def group_size(driver) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "#members > li"))


def test_a_teacher_grades_a_class_of_six_with_the_keyboard(served, browser, tmp_path):
    base, review, out = served
    browser.get(f"{base}/q/q1_2?token={TOKEN}")
    assert "token" not in browser.current_url
    first_url = browser.current_url
    press(browser, "j")
    wait_for(browser, lambda: browser.current_url != first_url, "j")
    press(browser, "k")
    wait_for(browser, lambda: browser.current_url == first_url, "k")
    seen_titles = []
    for _ in range(8):          # 4 groups; "s" goes to the next ungraded one
        if "6 / 6 graded" in browser.find_element(By.ID, "progress").text:
            break
        title = browser.title
        seen_titles.append(title)
        url = browser.current_url
        if group_size(browser) == 3:        # the right answer, three spellings: 1 (right), 3 (shapes)
            press(browser, "1", "3")
            assert browser.find_element(By.ID, "item-1").is_selected()
            press(browser, "2", "2")        # toggled on and off again
            assert not browser.find_element(By.ID, "item-2").is_selected()
            browser.save_screenshot(str(tmp_path / "question.png"))
        else:
            press(browser, "c")
            browser.switch_to.active_element.send_keys("see the slides on sigma", Keys.ESCAPE)
        assert browser.title == title and no_dialog(browser)
        press(browser, "s")
        wait_for(browser, lambda url=url, title=title: browser.current_url != url
                 or "6 / 6 graded" in browser.find_element(By.ID, "progress").text, "save")
    assert "6 / 6 graded" in browser.find_element(By.ID, "progress").text
    assert len(seen_titles) == 4       # each group graded once
    assert all(t.startswith("q1_2 answer group ") for t in seen_titles)
    # The hostile answer was on one of these pages: nothing ran. Look at it again, names shown too.
    gb = review.open()
    merged = review.merged_groups("q1_2", review.snapshot("q1_2", gb))
    history = gb.history("q1_2")
    gb.close()
    evil = next(i for i, g in enumerate(merged) if g.first.key == "EVIL_Mallory")
    browser.get(f"{base}/q/q1_2/{evil}")
    press(browser, "a")
    wait_for(browser, lambda: "names=1" in browser.current_url, "names")
    press(browser, "r")
    assert browser.find_element(By.CSS_SELECTOR, "details.raw").get_attribute("open") is not None
    assert browser.title == f"q1_2 answer group {evil + 1} of {len(merged)}" and no_dialog(browser)
    assert browser.execute_script("return window.pwned === undefined && document.querySelectorAll('svg').length")\
        == 0
    assert "<script>" in browser.find_element(By.CSS_SELECTOR, "article.rendered").text   # shown as text
    assert len(history) == 4           # one save per group, none per member
    right = {"DOE_John", "MARTIN_Alice", "SMITH_Bob"}
    rows = {k: p for k, q, p, c in export_mod.manual_rows(review)}
    assert {k: rows[k] for k in right} == dict.fromkeys(right, "0.75") and len(rows) == 6
    # An item edited afterwards: "right" is now worth 0.9; typed, then Enter.
    browser.get(f"{base}/items/q1_2")
    field = browser.find_element(By.ID, "points-correct")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("0.9", Keys.ENTER)
    wait_for(browser, lambda: "saved=1" in browser.current_url, "the items saved")
    # Export from the app: Tab to the button, Enter.
    browser.get(f"{base}/")
    browser.find_element(By.ID, "export").send_keys(Keys.ENTER)
    wait_for(browser, lambda: "Exported" in browser.page_source, "the export")
    grades = {r["last_name"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text("utf-8-sig")))}
    for last in ("DOE", "MARTIN", "SMITH"):
        assert grades[last]["q1_2"] == "1.65"            # 1 automatic + 0.9 - 0.25
        assert float(grades[last]["total"]) == pytest.approx(15.65)
    assert grades["DURAND"]["q1_2"] == "1"
    feedback = (out / "students" / "DOE_John" / "feedback.md").read_text()
    assert "0.65 / 1 (graded by hand)" in feedback and "+0.9: Right" in feedback
    assert "see the slides on sigma" in (out / "students" / "DURAND_Zoe" / "feedback.md").read_text()
    assert (tmp_path / "question.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'question.png'}")


def test_a_page_without_the_token_shows_nothing(served, browser):
    base, _, _ = served
    browser.get(f"{base}/q/q1_2/0")
    assert "403" in browser.title or "Forbidden" in browser.page_source
