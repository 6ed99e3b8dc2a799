"""The course in a real browser: JupyterLab and nbgrader's extensions driven in Chromium by Playwright.

What it proves, as a student and an instructor see it:

* **student**: JupyterLab started with the student configuration (``student/etc/jupyter`` on
  ``JUPYTER_CONFIG_PATH``, as ``pip install ./student`` installs it) opens a release notebook with no
  instructor tool (no "Create Assignment" sidebar, an Nbgrader menu of "Assignment List" only) and
  without JupyterLab's news question; a student who types the answers into the answer cells and
  presses the toolbar's Validate button is told which test cells fail (a wrong sigmoid: exactly the
  two sigmoid tests), and, once the sigmoid is fixed, that the notebook passes all the tests;
* **instructor**: in the instructor's environment (no student configuration) the same checks see
  Create Assignment, the Formgrader menu item and the news question (so the student checks can fail);
  after ``python -m autograder grade`` formgrader's "Manage Students" page shows each student's score
  as the gradebook records it; a manual score entered in formgrader's grading view is saved to the
  gradebook, survives a second ``python -m autograder grade`` and is still shown after a reload.

Each JupyterLab runs on 127.0.0.1 on a free port with a random token, with HOME and the Jupyter
config, data and runtime folders in a fresh temporary folder (no setting of this machine leaks in:
the news question is asked as on a fresh install); the browser may reach 127.0.0.1 only.
Screenshots of every step go to ``build/screenshots/``. Skipped (with the reason) where Playwright
or Chromium is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from autograder.course import COURSE_ROOT, Course, student_answer

SCREENSHOTS = COURSE_ROOT / "build" / "screenshots"
STUDENT_CONFIG = COURSE_ROOT / "student" / "etc" / "jupyter"
ASSIGNMENT = "01_activations"
NOTEBOOK = "activations"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"
WRONG_SIGMOID = "def sigmoid(z):\n    return 1 / (1 + np.exp(z))"
#: The test cells the wrong sigmoid fails (the others, sigmoid_prime's included, pass on top of it).
WRONG_SIGMOID_FAILS = {"sigmoid_values", "sigmoid_extremes"}
#: The part the instructor regrades by hand in formgrader: (grade_id, manual score).
MANUAL = ("sigmoid_values", 1.0)
#: A Markdown cell bea adds: images whose relative address climbs out of the notebook's folder to the
#: server's /logout (shown in formgrader, such an image once logged the instructor out: a GET with their
#: cookie), and a link to a page elsewhere, in the course's name.
HOSTILE_MARKDOWN = (
    "![chart](a/../../../../../logout) ![chart](%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/logout) "
    "![chart](..\\..\\..\\..\\..\\logout) [see your full grade](http://127.0.0.1:9/phish)"
)

# Generous: the machine is shared and slow (page loads and kernel starts can take 10-30 s).
START_TIMEOUT = 240  # s, until JupyterLab answers /api/status
UI_TIMEOUT = 120_000  # ms, for the page, the notebook, the kernel
VALIDATE_TIMEOUT = 300_000  # ms: Validate saves and runs the whole notebook in a new kernel
NEWS_WAIT = 5_000  # ms that JupyterLab gets to ask the news question before we say it did not


# ---------------------------------------------------------------------------------------- skips


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


LOCAL_ONLY_ARGS = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--disable-background-networking")


@pytest.fixture(scope="module")
def browser():
    """Chromium (the system's: Playwright's own download is not needed), shared by the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright cannot be imported ({e}): pip install playwright")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (/usr/bin/chromium, chromium or chromium-browser on PATH)")
    # Tests reach 127.0.0.1 only: the pages' requests are routed (new_page), and Chromium's own
    # services (sign-in, updates) resolve no name at all. Measured with strace over this file: without
    # the rule the browser asked the machine's DNS server (accounts.google.com, android.clients.google.com…)
    # 328 times; with it, never, and no connection but to 127.0.0.1 (Chromium's IPv6 route probe
    # connects a datagram socket, which sends no packet).
    args = [*LOCAL_ONLY_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@contextlib.contextmanager
def new_page(browser) -> Iterator:
    """A page of a fresh browser context that may reach 127.0.0.1 only (formgrader's MathJax CDN is cut)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT)

    def local_only(route):
        url = urlparse(route.request.url)
        if url.hostname == "127.0.0.1" or url.scheme == "file":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


# ---------------------------------------------------------------------------------------- JupyterLab


@dataclass
class Lab:
    url: str
    token: str
    log: Path

    def at(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env(home: Path, student: bool) -> dict[str, str]:
    """This environment without any Jupyter setting of the machine or the user: HOME and Jupyter's
    folders in home; the student configuration on JUPYTER_CONFIG_PATH if student."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env |= {
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    if student:
        env["JUPYTER_CONFIG_PATH"] = str(STUDENT_CONFIG)
    return env


def answers_status(url: str, token: str) -> bool:
    request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    """Terminate JupyterLab (it shuts its kernels down), then kill its process group if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path, *, student: bool) -> Iterator[Lab]:
    """``jupyter lab`` serving root (its working folder too: formgrader reads nbgrader_config.py there)
    on 127.0.0.1, with the student configuration or the instructor's (none), until the block ends."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "jupyterlab.log"
    for _attempt in range(3):  # another program may take the free port before JupyterLab does
        port, token = free_port(), secrets.token_hex(24)
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
        ] + (["--allow-root"] if os.geteuid() == 0 else [])
        with log.open("w") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=lab_env(home, student),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline and not answers_status(url, token):
            time.sleep(0.5)
        if proc.poll() is None and answers_status(url, token):
            break
        stop(proc)
        if "already in use" not in log.read_text():
            pytest.fail(f"JupyterLab did not answer /api/status within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")
    else:
        pytest.fail(f"JupyterLab found no free port in 3 attempts:\n{log.read_text()[-4000:]}")
    try:
        yield Lab(url, token, log)
    finally:
        stop(proc)


# ---------------------------------------------------------------------------------------- JupyterLab's UI


def open_notebook(page, lab: Lab, path: str, n_cells: int) -> None:
    """Open a notebook and wait until all its cells are in the page and its kernel is idle."""
    page.goto(lab.at(f"/lab/tree/{path}"))
    page.wait_for_selector(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{n_cells - 1}']")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")


def sidebar_tabs(page) -> list[str]:
    """The labels and titles of the left and right sidebars' tabs."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-SideBar .lm-TabBar-tab')]
                 .map(t => `${t.innerText} | ${t.getAttribute('title') || ''}`)"""
    )


def nbgrader_menu(page, picture: str) -> list[str] | None:
    """The items of the main menu "Nbgrader" (None if there is none), photographed open, then closed."""
    entry = page.locator(".lm-MenuBar-item", has_text="Nbgrader")
    if entry.count() == 0:
        return None
    entry.click()
    menu = page.locator(".lm-Menu").last
    menu.wait_for()
    items = [t.strip() for t in menu.locator(".lm-Menu-itemLabel").all_inner_texts() if t.strip()]
    screenshot(page, picture)
    page.keyboard.press("Escape")
    menu.wait_for(state="detached")
    return items


def news_question_shown(page) -> bool:
    return page.get_by_text(NEWS_QUESTION).count() > 0


def notifications(page) -> int:
    """The number of notifications of the status bar's bell (toasts closed or not)."""
    return int(page.locator(".jp-Notification-Status-Text").inner_text().strip())


def type_answer(page, index: int, text: str) -> None:
    """Click into the editor of cell index, select all and type text (inserted as typed: no auto-indent)."""
    cell = page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}']")
    cell.scroll_into_view_if_needed()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def save(page) -> None:
    page.keyboard.press("Escape")  # command mode: Ctrl+S is the notebook's save
    with page.expect_response(lambda r: "/api/contents/" in r.url and r.request.method == "PUT") as put:
        page.keyboard.press("Control+S")
    assert put.value.ok, f"saving failed: {put.value.status} {put.value.text()}"
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty", state="detached")


def validate(page) -> tuple[str, str]:
    """Press the toolbar's Validate button (it saves, then nbgrader runs the notebook); (class, text) of the
    result in nbgrader's dialog, which stays open."""
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.wait_for_selector("#validation-message", timeout=VALIDATE_TIMEOUT)
    return message.get_attribute("class") or "", message.inner_text()


def show(page, selector: str) -> None:
    """Scroll the element to the middle of the window, for a screenshot."""
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(700)  # formgrader scrolls to a focused input (500 ms): let it settle for the picture


def close_dialog(page) -> None:
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_selector(".jp-Dialog", state="detached")


# ---------------------------------------------------------------------------------------- the notebook


def cells(nb, key: str) -> dict[str, int]:
    """{grade_id: index} of the cells whose nbgrader metadata has key true (solution, grade)."""
    return {
        c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get(key)
    }


def unindented(source: str) -> str:
    return "\n".join(line.strip() for line in source.splitlines())


def first_line(source: str) -> str:
    return source.splitlines()[0]


# ---------------------------------------------------------------------------------------- student


def test_student_validates_in_jupyterlab(browser, tmp_path):
    from playwright.sync_api import expect

    release = nbformat.read(COURSE_ROOT / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(COURSE_ROOT / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    answer_cells = cells(release, "solution")
    test_cells = {gid: first_line(release.cells[i].source) for gid, i in cells(release, "grade").items()}
    answers = {gid: student_answer(source.cells[i].source) for gid, i in cells(source, "solution").items()}
    assert set(answers) == set(answer_cells) and "sigmoid" in answers, answer_cells
    assert all(STUB in unindented(release.cells[i].source) for i in answer_cells.values()), "no stub in an answer cell"

    assert (STUDENT_CONFIG / "labconfig" / "page_config.d").is_dir(), f"no student configuration in {STUDENT_CONFIG}"
    root = tmp_path / "lab"
    shutil.copytree(COURSE_ROOT / "release" / ASSIGNMENT, root / ASSIGNMENT)
    saved = root / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    with jupyter_lab(root, tmp_path / "home", student=True) as lab, new_page(browser) as page:
        open_notebook(page, lab, f"{ASSIGNMENT}/{NOTEBOOK}.ipynb", len(release.cells))
        page.wait_for_timeout(NEWS_WAIT)  # a negative check: give the question the time it takes elsewhere
        screenshot(page, "student-notebook.png")

        tabs = sidebar_tabs(page)
        assert any("File Browser" in t for t in tabs), f"the sidebars were not read: {tabs}"
        assert not any("Create Assignment" in t for t in tabs), f"students see nbgrader's Create Assignment: {tabs}"
        menu = nbgrader_menu(page, "student-nbgrader-menu.png")
        assert menu is not None, "students have no Nbgrader menu (the Assignment List is in it)"
        assert "Assignment List" in menu, menu
        for tool in ("Formgrader", "Course List", "Create assignment"):
            assert tool.lower() not in [m.lower() for m in menu], f"students' Nbgrader menu has {tool}: {menu}"
        # What the page was told (deterministic, whatever the machine's speed), then what it shows.
        disabled = page.evaluate(
            "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).disabledExtensions"
        )
        for plugin in ("@jupyterlab/apputils-extension:announcements", "@jupyter/nbgrader:create-assignment"):
            assert plugin in disabled, f"the page does not disable {plugin}: {disabled}"
        assert not news_question_shown(page), "students are asked about Jupyter news"
        assert notifications(page) == 0, "a fresh student JupyterLab has notifications (the news question?)"

        # A wrong sigmoid (exp(z) for exp(-z)), every other part right.
        for gid, index in answer_cells.items():
            editor = page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}'] .cm-content")
            editor.scroll_into_view_if_needed()
            expect(editor).to_contain_text(
                "raise NotImplementedError()", timeout=UI_TIMEOUT
            )  # the right cell, its editor ready
            type_answer(page, index, WRONG_SIGMOID if gid == "sigmoid" else answers[gid])
        save(page)
        show(page, f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{answer_cells['sigmoid']}']")
        screenshot(page, "student-answers-typed.png")
        on_disk = nbformat.read(saved, as_version=4)
        typed = {gid: on_disk.cells[i].source for gid, i in answer_cells.items()}
        assert typed == answers | {"sigmoid": WRONG_SIGMOID}, "the saved answer cells are not what was typed"

        kind, text = validate(page)
        screenshot(page, "student-validate-failed.png")
        assert "validation-failed" in kind, f"Validate did not report failure ({kind}):\n{text}"
        assert text.count("The following cell failed:") == len(WRONG_SIGMOID_FAILS), text
        named = {gid for gid, line in test_cells.items() if line in text}
        assert named == WRONG_SIGMOID_FAILS, f"the failing cells named are {sorted(named)}:\n{text}"
        assert "sigmoid([[1, -2]]) is wrong" in text, f"the failure's explanation is missing:\n{text}"
        close_dialog(page)

        # The sigmoid fixed.
        type_answer(page, answer_cells["sigmoid"], answers["sigmoid"])
        save(page)
        assert nbformat.read(saved, as_version=4).cells[answer_cells["sigmoid"]].source == answers["sigmoid"]
        kind, text = validate(page)
        screenshot(page, "student-validate-passed.png")
        assert "validation-success" in kind, f"Validate did not report success ({kind}):\n{text}"
        assert "Success! Your notebook passes all the tests." in text, text
        close_dialog(page)
        assert not news_question_shown(page), "students were asked about Jupyter news (later on)"


#: A notebook with several bugs, Validated as it was saved: 03 with the sample whose cost lacks its weight
#: decay term and whose backprop applies weight decay to the biases (autograder/samples/a03_backprop.py).
SEVERAL_BUGS = ("03_backprop", "backprop", "decay_on_biases")
#: {failing test cell: what the first line of its error in Validate's dialog names}.
SEVERAL_BUGS_FAIL = {"cost_value": "J is wrong", "backprop_db1": "db[0] is wrong", "backprop_db2": "db[1] is wrong"}
#: What the dialog's text was for these three failures before check_close's errors rendered as their
#: diagnosis (a traceback through check_close; measured 2026-12-07), and an upper bound for it now.
SEVERAL_BUGS_BEFORE_CHARS = 5446  # 97 lines; now 1614 characters, 31 lines (the cells' sources are 22 of them)
SEVERAL_BUGS_MAX_CHARS = 2500


def validation_blocks(page) -> list[tuple[str, str]]:
    """(the cell's source, its error) of each failing cell in nbgrader's Validate dialog."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#validation-message > div.jp-RenderedText pre')]
                 .map(e => e.innerText)"""
    )


def test_validate_shows_the_diagnosis_of_each_failing_part(browser, tmp_path):
    """Validate on a notebook with three failing parts: the error under each is check_close's diagnosis,
    its first line naming the wrong quantity, without a traceback; the helper cell opens collapsed."""
    from autograder.samples import a03_backprop

    assignment, notebook, sample = SEVERAL_BUGS
    source = nbformat.read(COURSE_ROOT / "source" / assignment / f"{notebook}.ipynb", as_version=4)
    release = nbformat.read(COURSE_ROOT / "release" / assignment / f"{notebook}.ipynb", as_version=4)
    root = tmp_path / "lab"
    shutil.copytree(COURSE_ROOT / "release" / assignment, root / assignment)
    from autograder.course import HELPER_ID, fill_answers

    nb = fill_answers(source, release, a03_backprop.SUBMISSIONS[sample].answers)
    nbformat.write(nb, root / assignment / f"{notebook}.ipynb")
    helper = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == HELPER_ID)
    test_cells = {gid: first_line(nb.cells[i].source) for gid, i in cells(nb, "grade").items()}
    with jupyter_lab(root, tmp_path / "home", student=True) as lab, new_page(browser) as page:
        open_notebook(page, lab, f"{assignment}/{notebook}.ipynb", len(nb.cells))
        helper_cell = page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{helper}']")
        assert helper_cell.locator(".jp-InputPlaceholder").is_visible(), "the check_close cell is not collapsed"
        assert not helper_cell.locator(".cm-content").is_visible(), "check_close's source is shown"
        show(page, f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{helper}']")
        screenshot(page, "student-helper-collapsed.png")

        kind, text = validate(page)
        screenshot(page, "student-validate-several-bugs.png")
        page.locator("#validation-message > div").last.scroll_into_view_if_needed()
        screenshot(page, "student-validate-several-bugs-end.png")
        assert "validation-failed" in kind, f"Validate did not report failure ({kind}):\n{text}"
        blocks = validation_blocks(page)
        assert len(blocks) == 2 * len(SEVERAL_BUGS_FAIL), blocks
        failed = {}
        for cell_source, error in zip(blocks[::2], blocks[1::2]):
            (gid,) = [g for g, line in test_cells.items() if cell_source.startswith(line)]
            failed[gid] = error.strip().splitlines()
        assert set(failed) == set(SEVERAL_BUGS_FAIL), f"the failing cells named are {sorted(failed)}:\n{text}"
        for gid, lines in failed.items():
            assert SEVERAL_BUGS_FAIL[gid] in lines[0], f"{gid}: the first line is not the diagnosis:\n{lines}"
            assert 2 <= len(lines) <= 6, f"{gid}: {len(lines)} lines:\n" + "\n".join(lines)
            for words in ("Traceback", "Cell In", "File ", "check_close(", "---------"):
                assert not any(words in line for line in lines), f"{gid}: {words!r} in its error:\n" + "\n".join(lines)
        print(f"Validate's dialog: {len(text)} characters, {len(text.splitlines())} lines")
        assert len(text) <= SEVERAL_BUGS_MAX_CHARS, f"{len(text)} characters:\n{text}"
        close_dialog(page)


# ---------------------------------------------------------------------------------------- instructor


def grade(course: Path) -> None:
    """The real grade command, run in the course."""
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"grade failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"


def recorded(course: Path) -> tuple[dict[str, tuple[float, float]], tuple[float, float | None]]:
    """From the gradebook: ({student: (score, max score)}, (auto, manual) score of bea_buggy's MANUAL cell)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {row["student"]: (row["score"], row["max_score"]) for row in gb.submission_dicts(ASSIGNMENT)}
        cell = gb.find_grade(MANUAL[0], NOTEBOOK, ASSIGNMENT, "bea_buggy")
        return scores, (cell.auto_score, cell.manual_score)


def submission_id(course: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student).id


def formgrader_scores(page, lab: Lab) -> dict[str, tuple[float, float]]:
    """{student: (score, max score)} as formgrader's Manage Students page shows them."""
    page.goto(lab.at("/formgrader/manage_students"))
    page.wait_for_function("() => window.models && window.models.loaded === true")
    rows = page.locator("#main-table tr")
    shown = {}
    for i in range(rows.count()):
        score, top = rows.nth(i).locator("td.score").inner_text().split("/")
        shown[rows.nth(i).locator("td.id").inner_text().strip()] = (float(score), float(top))
    return shown


def open_submission(page, lab: Lab, sid: str) -> None:
    """formgrader's grading view of one submitted notebook, its grades loaded, the student's name shown."""
    page.goto(lab.at(f"/formgrader/submissions/{sid}/"))
    page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded === true")
    page.locator(".live-notebook .glyphicon-eye-open").click()


@pytest.fixture
def graded_course(tmp_path) -> Path:
    """A course with 01_activations submitted by a perfect student and one with the wrong sigmoid (and a
    Markdown cell of HOSTILE_MARKDOWN), graded."""
    course = (
        Course()
        .scratch(
            tmp_path / "course",
            [ASSIGNMENT],
            submissions={"ada_perfect": {ASSIGNMENT: {}}, "bea_buggy": {ASSIGNMENT: {"sigmoid": WRONG_SIGMOID}}},
        )
        .root
    )
    path = course / "submitted" / "bea_buggy" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    nbformat.write(nb, path)
    grade(course)
    return course


def flagged(course: Path) -> list[tuple[str, str]]:
    """(student, grade_id) of every grade the gradebook flags as needing manual grading."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = [gb.find_submission(ASSIGNMENT, s.id) for s in gb.students]
        return sorted(
            (s.student.id, g.name) for s in sub for nb in s.notebooks for g in nb.grades if g.needs_manual_grade
        )


def assert_typeset(page, where: str) -> None:
    """The formulas of a page (or frame) are typeset: MathML elements the browser laid out (visible, not
    empty), and no formula left as LaTeX source in its text ($$, \\frac, $\\sigma)."""
    boxes = page.locator("math").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(boxes) >= 3, f"{where}: {len(boxes)} formulas typeset"
    assert all(w > 0 and h > 0 for w, h in boxes), f"{where}: a formula laid out empty: {boxes}"
    text = page.locator("body").inner_text()
    raw = re.findall(r"\$\$|\\frac|\$\\?[a-zA-Z]", text)
    assert not raw, f"{where} shows LaTeX source: {raw[:5]}"


def autograde_in_formgrader(page, lab: Lab, student: str) -> str:
    """Click the Autograde button of student's submission on formgrader's Manage Submissions page; the
    dialog's text."""
    page.goto(lab.at(f"/formgrader/manage_submissions/{ASSIGNMENT}"))
    page.wait_for_function("() => window.models && window.models.loaded === true")
    row = page.locator("#main-table tr", has=page.locator("td.student-id", has_text=student))
    with page.expect_response(lambda r: r.url.endswith(f"/{student}/autograde"), timeout=600_000) as done:
        row.locator("td.autograde a").click()
    assert done.value.ok, done.value.text()
    dialog = page.locator(".modal-dialog")
    dialog.wait_for()
    page.wait_for_timeout(500)  # the dialog fades in: let it settle for the picture
    return dialog.inner_text()


def test_instructor_grades_in_formgrader(browser, graded_course, tmp_path):
    course = graded_course
    scores, (auto, manual) = recorded(course)
    assert scores == {"ada_perfect": (10.0, 10.0), "bea_buggy": (7.0, 10.0)}, scores
    assert (auto, manual) == (0.0, None), (auto, manual)
    assert flagged(course) == [], "grade flagged cells for manual grading (the course has none)"
    gid, points = MANUAL
    sid = submission_id(course, "bea_buggy")

    with jupyter_lab(course, tmp_path / "home", student=False) as lab, new_page(browser) as page:
        # The instructor's JupyterLab has what the student's lacks: the student test's checks can fail.
        page.goto(lab.at("/lab"))
        page.locator(".jp-DirListing-item", has_text="submitted").wait_for()  # the course is the root
        page.get_by_text(NEWS_QUESTION).wait_for()
        screenshot(page, "instructor-lab.png")
        tabs = sidebar_tabs(page)
        assert any("Create Assignment" in t for t in tabs), f"no Create Assignment in the instructor's sidebars: {tabs}"
        assert notifications(page) >= 1, "the news question is not counted by the bell"
        menu = nbgrader_menu(page, "instructor-nbgrader-menu.png")
        assert menu is not None and "Formgrader" in menu and "Assignment List" in menu, menu

        shown = formgrader_scores(page, lab)
        screenshot(page, "formgrader-students.png")
        assert shown == scores, f"formgrader shows {shown}, the gradebook holds {scores}"

        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        open_submission(page, lab, sid)
        assert page.locator(".live-notebook .name-shown").first.inner_text().strip() == "bea_buggy"
        # The notebook's formulas are typeset (MathML: offline, formgrader's MathJax from a CDN showed LaTeX).
        assert_typeset(page, "formgrader")
        screenshot(page, "formgrader-math.png")
        # Her Markdown cell is shown, its images loading nothing (no /logout), its link no link.
        page.get_by_text("see your full grade").scroll_into_view_if_needed()
        screenshot(page, "formgrader-hostile-markdown.png")
        assert not [u for u in requested if "logout" in u or "phish" in u], requested
        assert page.locator("a", has_text="see your full grade").count() == 0  # text, not a link
        score = page.locator(f"input.score#{gid}")
        assert score.get_attribute("placeholder") == "0", "the autograded score is not the input's placeholder"
        assert score.input_value() == "", "a manual score is there before it was given"
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as put:
            score.fill(f"{points:g}")
            score.blur()  # formgrader saves on change
        assert put.value.ok and put.value.json()["manual_score"] == points, put.value.text()
        show(page, f"input.score#{gid}")
        screenshot(page, "formgrader-manual-grade.png")
        scores, (auto, manual) = recorded(course)
        assert (auto, manual) == (0.0, points), f"the gradebook holds auto {auto}, manual {manual} for {gid}"
        assert scores["bea_buggy"] == (7.0 + points, 10.0), scores

        grade(course)  # regrading keeps the manual grade
        assert recorded(course) == (scores, (0.0, points)), "regrading changed the gradebook"
        page.reload()
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded === true")
        assert page.locator(f"input.score#{gid}").input_value() == f"{points:g}", "formgrader lost the manual score"
        page.locator(".live-notebook .glyphicon-eye-open").click()
        show(page, f"input.score#{gid}")
        screenshot(page, "formgrader-manual-grade-after-regrade.png")
        shown = formgrader_scores(page, lab)
        screenshot(page, "formgrader-students-after-regrade.png")
        assert shown == scores, f"after regrading formgrader shows {shown}, the gradebook holds {scores}"
        # nbgrader's rule: a cell a person scored is flagged for their look once it is graded again.
        assert flagged(course) == [("bea_buggy", gid)], flagged(course)

        # Formgrader's Autograde button grades as grade does (autograder/formgrader.py), not with plain
        # nbgrader autograde, which would put the hidden tests back in her notebook and kernel.
        said = autograde_in_formgrader(page, lab, "bea_buggy")
        screenshot(page, "formgrader-autograde.png")
        assert "Successfully autograded" in said and "grading 1 students" in said, said
        autograded = (course / "autograded" / "bea_buggy" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
        assert "BEGIN HIDDEN TESTS" not in autograded, "formgrader's Autograde put the hidden tests back"
        assert '"isolated"' in autograded, "formgrader's Autograde did not run the isolated pass"
        assert recorded(course) == (scores, (0.0, points)), "formgrader's Autograde changed the grades"

        # bea's feedback page, opened from disk as she opens it: it loads nothing but itself, its formulas are
        # typeset, its summary names the parts, her link is no link.
        feedback = course / "feedback" / "bea_buggy" / ASSIGNMENT / f"{NOTEBOOK}.html"
        requested.clear()
        page.goto(feedback.as_uri())
        screenshot(page, "feedback-top.png")
        others = [u for u in requested if u != feedback.as_uri() and not u.startswith("data:")]
        assert not others, others
        assert_typeset(page, "the feedback page")
        summary = page.locator("#toc").inner_text()
        assert "Test cell" not in summary, summary
        for gid in WRONG_SIGMOID_FAILS:
            assert f"Part A — sigmoid: {gid} (Score: " in summary, f"{gid} is not named:\n{summary}"
        page.get_by_text("see your full grade").scroll_into_view_if_needed()
        screenshot(page, "feedback-hostile-markdown.png")
        assert page.locator("a", has_text="see your full grade").count() == 0

        # The same page in JupyterLab's HTML viewer (a sandboxed frame that runs no script): typeset too.
        relative = feedback.relative_to(course).as_posix()
        page.goto(lab.at(f"/lab/tree/{relative}"))
        viewer = page.frame_locator(".jp-HTMLViewer iframe")
        viewer.locator("math").first.wait_for()
        assert_typeset(viewer, "JupyterLab's HTML viewer")
        screenshot(page, "feedback-in-jupyterlab.png")
