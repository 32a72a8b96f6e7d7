"""`evolve ui` end to end: the server as a real subprocess over a real run's database, the
page in headless Chromium driven by Selenium (Debian's chromium and chromium-driver).

Checks that the page loads without console errors, the lineage tree shows every program,
clicking a node shows its code and its diff against the parent, a program added to the
database while the page is open appears without a reload, and that the server never
writes to the database. Screenshots of the main views go to docs/screenshots/.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_inspect_rundb import build_run_db

from evolve.code.diff import unified_diff
from evolve.core.records import Candidate, Note
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_ui(db: Path, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "evolve.cli.main", "ui", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(f"http://127.0.0.1:{port}/")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise AssertionError(f"evolve ui exited: {server.communicate()[1]}")
        time.sleep(0.1)
    server.kill()
    raise AssertionError("evolve ui did not start within 60 s")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db, summary = build_run_db(tmp_path_factory.mktemp("ui"))
    return db, summary["run_id"]


@pytest.fixture(scope="module")
def ui(run_db: tuple[Path, str]) -> Iterator[tuple[str, str]]:
    db, _ = run_db
    before = digest(db)
    port = free_port()
    server = start_ui(db, port)
    try:
        yield f"http://127.0.0.1:{port}", before
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1600,1200",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: webdriver.Chrome, script: str, timeout: float = 30) -> object:
    """Wait until the JavaScript expression ``script`` is truthy; return its value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script};")
    )


def tree_ids(driver: webdriver.Chrome) -> list[str]:
    return driver.execute_script(
        "const t = document.getElementById('tree');"
        " return t.data ? t.data.find((d) => d.name === 'programs').customdata : [];"
    )


def errors(driver: webdriver.Chrome) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_page_loads_without_console_errors(
    browser: webdriver.Chrome, ui: tuple[str, str], run_db: tuple[Path, str]
) -> None:
    base, before = ui
    db, run_id = run_db
    browser.get(base + "/")
    wait_for(browser, f"document.getElementById('summary').textContent.includes('{run_id}')")
    wait_for(
        browser, "document.getElementById('tree').data && document.querySelector('#grids .grid')"
    )
    wait_for(browser, "document.getElementById('live').classList.contains('on')")
    assert errors(browser) == []
    assert browser.find_element(By.CSS_SELECTOR, f"#runs tr[data-run='{run_id}']")
    models = browser.find_element(By.ID, "models").text
    assert "openai/good" in models and "openai/bad" in models
    assert browser.find_elements(By.CSS_SELECTOR, "#progress .scatterlayer .trace")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#grids .grid")) == 2  # one per island
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "overview.png"))
    assert digest(db) == before  # the UI read it and wrote nothing


def test_lineage_tree_renders_every_program(
    browser: webdriver.Chrome, run_db: tuple[Path, str]
) -> None:
    db, run_id = run_db
    programs = Store(resolve_db_url(str(db))).programs(run_id)
    assert sorted(tree_ids(browser)) == sorted(p.id for p in programs)
    points = browser.find_elements(
        By.CSS_SELECTOR, "#tree .scatterlayer .trace:last-child path.point"
    )
    assert len(points) == len(programs)
    edges = browser.execute_script("return document.getElementById('tree').data[0].x.length")
    assert edges == 3 * (len(programs) - 1)  # one segment (and a gap) per parent link


def test_clicking_a_node_shows_its_code_and_diff(
    browser: webdriver.Chrome, run_db: tuple[Path, str]
) -> None:
    db, run_id = run_db
    reader = Reader(resolve_db_url(str(db)))
    best = reader.best(reader.run(run_id))[0]
    parent = reader.program(best.parent_id or "")
    reader.close()
    index = tree_ids(browser).index(best.id)
    point = browser.find_elements(
        By.CSS_SELECTOR, "#tree .scatterlayer .trace:last-child path.point"
    )[index]
    ActionChains(browser).move_to_element(point).pause(0.3).click().perform()
    wait_for(
        browser, f"document.getElementById('program-title')?.textContent.includes('{best.id}')"
    )
    code = browser.execute_script("return document.getElementById('program-code').textContent")
    assert code == best.code
    diff = browser.execute_script("return document.getElementById('program-diff').textContent")
    assert diff.strip() == unified_diff(parent.code, best.code).strip()
    added = browser.find_elements(By.CSS_SELECTOR, "#program-diff .add")
    assert added and all(a.text.startswith("+") for a in added)
    panel = browser.find_element(By.ID, "program").text
    assert "openai/good" in panel and "value" in panel and parent.id[:10] in panel
    # The LLM exchange that made it: its prompt and answer.
    browser.find_element(By.CSS_SELECTOR, "#program details:last-of-type summary").click()
    response = browser.find_element(By.CSS_SELECTOR, "#program pre.response").text
    assert "REPLACE" in response
    assert errors(browser) == []
    browser.save_screenshot(str(SCREENSHOTS / "program.png"))


def test_a_new_program_appears_without_a_reload(
    browser: webdriver.Chrome, run_db: tuple[Path, str]
) -> None:
    db, run_id = run_db
    store = Store(resolve_db_url(str(db)))
    programs = store.programs(run_id)
    best = min((p for p in programs if p.ok), key=lambda p: (p.score, p.iteration))
    browser.execute_script("window.__sameDocument = true;")
    before = len(tree_ids(browser))
    child = replace(
        best,
        id="f" * 8 + os.urandom(12).hex(),
        iteration=programs[-1].iteration + 1,
        code=best.code.replace("for _ in range(", "for _ in range(7 + ", 1),
        parent_id=best.id,
        generation=best.generation + 1,
        score=(best.score or 0.0) / 2,
        metrics={**best.metrics, "value": (best.score or 0.0) / 2},
        created_at=time.time(),
    )
    assert isinstance(child, Candidate)
    store.add_program(child)  # as a running search would
    wait_for(
        browser,
        "document.getElementById('tree').data.find((d) => d.name === 'programs')"
        f".customdata.includes('{child.id}')",
    )
    assert len(tree_ids(browser)) == before + 1
    assert browser.execute_script("return window.__sameDocument === true")
    assert browser.find_element(By.CSS_SELECTOR, f"#recent tr[data-program='{child.id}']")
    best_text = browser.find_element(By.ID, "best-score").text
    assert float(best_text) == pytest.approx(child.score, rel=1e-5)
    assert errors(browser) == []
    grids = browser.find_element(By.ID, "grids")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", grids)
    time.sleep(0.3)
    browser.save_screenshot(str(SCREENSHOTS / "grids.png"))


def test_a_note_and_a_second_parent_are_shown(
    browser: webdriver.Chrome, run_db: tuple[Path, str]
) -> None:
    db, run_id = run_db
    store = Store(resolve_db_url(str(db)))
    programs = store.programs(run_id)
    store.add_note(Note(run_id, "ui-note-42: smaller steps near the best helped", "user", 3))
    wait_for(browser, "document.getElementById('notes').textContent.includes('ui-note-42')")
    notes = browser.find_element(By.ID, "notes").text
    assert "user" in notes and "shown after #3" in notes
    # A crossover child: its second parent is a link in its panel and a dashed edge.
    parent, mate = programs[-1], programs[1]
    child = replace(
        parent,
        id="c" * 8 + os.urandom(12).hex(),
        iteration=programs[-1].iteration + 100,
        parent_id=parent.id,
        mate_id=mate.id,
        code=parent.code + "\n",
        created_at=time.time(),
    )
    store.add_program(child)
    wait_for(
        browser,
        "document.getElementById('tree').data.find((d) => d.name.startsWith('second'))"
        ".x.length === 3",
    )
    browser.execute_script(f"showProgram('{child.id}')")
    wait_for(browser, "document.getElementById('program').textContent.includes('second parent')")
    assert mate.id[:10] in browser.find_element(By.ID, "program").text
    assert errors(browser) == []


def test_api_errors_and_local_assets(ui: tuple[str, str]) -> None:
    base, _ = ui
    status, body = get(base + "/api/programs/zzzz")
    assert status == 404 and "no program 'zzzz'" in json.loads(body)["error"]
    status, body = get(base + "/api/runs/zzzz/view")
    assert status == 404 and "no run 'zzzz'" in json.loads(body)["error"]
    status, body = get(base + "/vendor/plotly.min.js")
    assert status == 200 and len(body) > 1_000_000
    page = get(base + "/")[1].decode()
    assert "http://" not in page and "https://" not in page  # nothing from elsewhere


def test_ui_bad_input_is_one_line(tmp_path: Path, run_db: tuple[Path, str]) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", "ui", "--db", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no database" in missing.stderr and "Traceback" not in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "evolve.cli.main",
                "ui",
                "--db",
                str(run_db[0]),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert busy.returncode == 2 and busy.stderr.count("\n") == 1
    assert f"127.0.0.1:{port}" in busy.stderr and "--port" in busy.stderr
