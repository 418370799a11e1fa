"""The labelling page end to end in headless Chromium (Selenium + Debian chromedriver):
a rater labels 10 items, the server is killed and restarted, the page reloads and resumes
where the rater stopped, hostile item text stays inert, and every answer is on disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from judge._cli.calibrate import write_sample_sheet
from judge.labelling import read_answers, read_sheet
from tests.labelling.conftest import GROUP_LEVELS, judged_items

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9",
         "--proxy-bypass-list=127.0.0.1", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--window-size=1100,900"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(sheet: Path, labels: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "judge.cli", "label", str(sheet), "--port",
                             str(port), "--labels", str(labels)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sheet", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(proc.stderr.read().decode())


def _driver(chromium: dict, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium["binary"]
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.set_capability("unhandledPromptBehavior", "ignore")
    return webdriver.Chrome(options=opts, service=Service(executable_path=chromium["driver"]))


def _wait(driver, cond, timeout=10.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(cond)


def _progress(driver) -> str:
    return driver.find_element("id", "progress").text


def _answer(driver, value: int, safe: str, expect_next: int) -> None:
    driver.find_element("css selector", f'input[name="c-helpful"][value="{value}"]').click()
    driver.find_element("css selector", f'input[name="c-safe"][value=\'"{safe}"\']').click()
    driver.find_element("id", "submit").click()
    _wait(driver, lambda d: (f"Item {expect_next} of" in _progress(d))
          or d.find_element("id", "done").is_displayed())


def _check_inert(driver, row) -> None:
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.execute_script("return document.images.length") == 0
    assert driver.execute_script("return document.getElementById('bold')") is None
    text = "return document.getElementById(arguments[0]).textContent"
    assert driver.execute_script(text, "query") == row.query  # shown literally, as text
    assert driver.execute_script(text, "response") == row.response


@pytest.mark.slow
def test_rater_labels_ten_items_with_reload_and_kill(tmp_path, chromium):
    paths = write_sample_sheet(judged_items(), tmp_path / "study", 12, seed=2, rubric="helpfulness",
                               min_per_stratum=1,
                               criterion="helpful", raters=1, overlap=0.0)
    sheet, labels = paths["jsonl"], tmp_path / "labels.jsonl"
    rows = read_sheet(sheet)
    shown = " ".join(r.query + r.response for r in rows[:11])
    assert "<script>" in shown and "onerror=" in shown and "=HYPERLINK(" in shown
    port = _free_port()
    proc = _start(sheet, labels, port)
    driver = _driver(chromium, tmp_path / "profile")
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element("id", "name").send_keys("Ann Rater")
        driver.find_element("id", "start").click()
        _wait(driver, lambda d: "Item 1 of 12" in _progress(d))
        page = driver.page_source
        assert not any(g in page for g in GROUP_LEVELS) and "judge" not in page.lower()
        for k in range(5):
            _check_inert(driver, rows[k])
            _answer(driver, 1 + k % 5, "yes", k + 2)
        # back, change the answer to item 5, move on again
        driver.find_element("id", "back").click()
        _wait(driver, lambda d: "Item 5 of 12" in _progress(d))
        assert driver.find_element("css selector",
                                   'input[name="c-helpful"][value="5"]').is_selected()
        _answer(driver, 2, "no", 6)
        # the server dies without warning; nothing acknowledged is lost
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert len(read_answers(labels)) == 6
        proc = _start(sheet, labels, port)
        driver.refresh()
        _wait(driver, lambda d: "Item 6 of 12" in _progress(d))  # resumes, name remembered
        assert "Ann Rater" in _progress(driver)
        # a skip needs a reason
        driver.find_element("id", "skip").click()
        driver.find_element("id", "skip-confirm").click()
        _wait(driver, lambda d: "Say why" in d.find_element("id", "error").text)
        driver.find_element("id", "skip-reason").send_keys("cannot judge <b>this</b>")
        driver.find_element("id", "skip-confirm").click()
        _wait(driver, lambda d: "Item 7 of 12" in _progress(d))
        for k in range(6, 11):
            _check_inert(driver, rows[k])
            _answer(driver, 3, "yes", k + 2)
        logs = driver.get_log("browser")
    finally:
        driver.quit()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert not errors, errors
    got = read_answers(labels)
    assert len(got) == 12  # 10 answered + 1 re-answer + 1 skip
    last = {a.row_id: a for a in got}
    assert len(last) == 11
    assert last[rows[4].row_id].scores == {"helpful": 2, "safe": "no"}
    assert last[rows[5].row_id].skipped and last[rows[5].row_id].skip_reason == \
        "cannot judge <b>this</b>"
    assert all(a.rater == "Ann Rater" and a.source == "page" for a in got)
    assert all(a.seconds is not None and a.seconds >= 0 and a.shown_at for a in got)
    assert [a.row_id for a in got[:5]] == [r.row_id for r in rows[:5]]
