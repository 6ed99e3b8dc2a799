"""A term on the course's JupyterHub (deploy/jupyterhub/), driven in Chromium as its users drive it.

The hub is brought up with the one command the README gives (``deploy/jupyterhub/up.py``), on 127.0.0.1 on free
ports, for one instructor (``autograder-hub-ines``) and two students (``autograder-hub-alice``,
``autograder-hub-bob``), local users who are not root, each with a fresh home, the course owned by a grader account
(``autograder-hub-grader``), a fresh exchange, and the test's authenticator (one password, in the environment). Then:

* **students**: alice logs in and lands in her own JupyterLab, which runs the student environment (nbgrader's
  Assignment List, no instructor tool); the Assignment List offers 03_backprop (released by the grader, through
  nbgrader's exchange, once 01 and 02, whose solutions it gives, are past their due dates in the gradebook, as
  ``JupyterHubAuthPlugin`` lets her see the course her hub group names); she fetches it,
  her notebook gets a ``backprop`` without the 1/m of the averaged gradient (written through Jupyter's contents API
  from her logged-in browser, as her editor saves it), and she clicks Submit. Bob hands in a backprop that puts
  weight decay on the biases. Their hand-ins reach the exchange as theirs (owned by them);
* **feedback on submit** (the feedback service, ``python -m autograder serve``, a hub-managed service of the grader):
  within 60 s of Submit, alice's Assignment List offers her feedback; fetched, it names her bug ("the 1/m is
  missing") and scores her below 25; she submits the fixed backprop and, within 60 s again, reads 25 of 25.
  Until the package has ``autograder.service`` the test grades as an instructor does by hand instead (collect,
  grade, release_feedback, as the grader) and checks the same pages, without the 60 s;
* **the other student**: bob's Assignment List holds his own hand-in and feedback only, and his feedback names his
  own bug, not alice's; his browser is refused alice's server (its pages, files and contents API) by the hub; as
  the user bob, he can list neither the exchange's inbound/ nor its feedback/, nor read anything in alice's home;
* **the instructor**: ines logs in and lands on formgrader, the grader's service (``/services/sparse-autoencoder``),
  which shows both students with the scores the gradebook records (alice 25/25, bob below) and no submission
  flagged for manual grading; a manual score she enters in formgrader's grading view is saved to the gradebook,
  survives a regrade (``python -m autograder grade``, as the grader) and is still shown after a reload.
  Students' browsers are refused formgrader.

Screenshots of each step go to ``build/screenshots/hub-*.png``. The hub's log, on a failure, is in the assertion
message. It needs root (useradd, and the hub's LocalProcessSpawner starts each server as its user), Chromium,
Playwright, node and npm (the proxy, installed by the launcher into deploy/jupyterhub/node_modules), and is skipped
otherwise, with why. The users stay (their names are stable, so reruns reuse them); their homes, the hub's folder
(course, exchange, database) and every process they ran are removed at the end. The student environment the
launcher builds (``pip install ./student jupyterhub``, a minute) is kept in ``build/hub/student-venv`` and reused
while student/ and JupyterHub's version are the same (the launcher's key). As tests/test_exchange.py, the folders
above the checkout and the interpreters are made passable (o+x), each change printed.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from test_browser import LOCAL_ONLY_ARGS, SCREENSHOTS, chromium_path, free_port
from test_exchange import SNOOP, make_passable, useradd
from test_exchange import feedback_scores as exchange_feedback_scores

from autograder.course import COURSE_ROOT, EARLIER_SOLUTIONS, fill_answers
from autograder.samples import a03_backprop

COURSE_ID = "sparse-autoencoder"
ASSIGNMENT, NOTEBOOK, MAX_SCORE = "03_backprop", "backprop", 25.0
INSTRUCTOR, ALICE, BOB = "autograder-hub-ines", "autograder-hub-alice", "autograder-hub-bob"
GRADER = "autograder-hub-grader"
STUDENTS = (ALICE, BOB)
UP = COURSE_ROOT / "deploy" / "jupyterhub" / "up.py"
STUDENT_VENV = COURSE_ROOT / "build" / "hub" / "student-venv"  # reused while the launcher's key matches

#: Alice's first backprop: ΔW summed, not averaged (the samples' no_fprime_and_sum, its backprop alone), and the
#: words her feedback must show; bob's: weight decay on the biases (decay_on_biases, its backprop alone).
_SAMPLES = a03_backprop.SUBMISSIONS
ANSWERS = {
    ALICE: {"backprop": _SAMPLES["no_fprime_and_sum"].answers["backprop"]},
    BOB: {"backprop": _SAMPLES["decay_on_biases"].answers["backprop"]},
}
NAMED = {ALICE: "the 1/m is missing", BOB: "weight decay is applied to the biases"}
#: The part the instructor grades by hand in formgrader: (student, grade_id, manual score).
MANUAL = (BOB, "backprop_db1", 1.0)
#: The due date of the assignments before 03, whose solutions its release gives: past (else it is not released).
PAST = "2020-01-01 00:00:00 UTC"

SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
USERADD, RUNUSER = shutil.which("useradd", path=SYSTEM_PATH), shutil.which("runuser", path=SYSTEM_PATH)
NPM, NODE = shutil.which("npm", path=SYSTEM_PATH), shutil.which("node", path=SYSTEM_PATH)
#: The feedback service is in the package (the hub then runs it); the test grades by hand otherwise.
SERVICE = importlib.util.find_spec("autograder.service") is not None

# Generous: the machine is shared and slow. Nothing waits for a fixed time but the feedback's 60 s.
HUB_TIMEOUT = 1500  # s until the hub answers: the first run builds the student environment (pip: a minute or two)
UI_TIMEOUT = 180_000  # ms for a page, a spawn (JupyterLab's start: 10-30 s here), a click's answer
FEEDBACK_WITHIN = 60  # s from Submit to the Assignment List offering the feedback (issue 26)
GRADE_TIMEOUT = 1800  # s for a grading command as the grader

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it creates local users and runs JupyterHub's spawner"),
    pytest.mark.skipif(sys.platform != "linux", reason="needs Linux local users (useradd, runuser)"),
    pytest.mark.skipif(USERADD is None or RUNUSER is None, reason="useradd or runuser not found"),
    pytest.mark.skipif(NPM is None or NODE is None, reason="node and npm are needed (configurable-http-proxy)"),
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium (/usr/bin/chromium, chromium, chromium-browser)"),
]


# ---------------------------------------------------------------------------------------------- users


def fresh_user(name: str) -> pwd.struct_passwd:
    """The local user name (made if missing: a group of its own, bash, home /home/<name>), with a fresh, empty
    home of its own (0700): the hub's spawner and services start each process in its user's home."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = useradd(name, ["--system", "--user-group", "--home-dir", f"/home/{name}", "--shell", "/bin/bash"])
    home = Path(entry.pw_dir)
    assert home.name == name, f"{name}'s home is {home}, not a folder of its own: not removing it"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o700, parents=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return entry


def kill_processes_of(uids: set[int]) -> list[int]:
    """SIGKILL every process left running as one of uids (the test's own users); their ids."""
    killed = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid in uids:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
    return killed


# ---------------------------------------------------------------------------------------------- the hub


@dataclass
class Hub:
    url: str
    password: str
    state: Path
    log: Path
    proc: subprocess.Popen
    users: dict[str, pwd.struct_passwd]
    #: What the steps found, for the later tests: {step: value}.
    seen: dict = field(default_factory=dict)

    @property
    def course(self) -> Path:
        return self.state / "course"

    @property
    def exchange(self) -> Path:
        return self.state / "exchange"

    def log_tail(self, n: int = 8000) -> str:
        return f"--- the hub's log ({self.log}), its end:\n{self.log.read_text(errors='replace')[-n:]}"

    def as_grader(self, args: list, *, timeout: float = 600) -> subprocess.CompletedProcess:
        """args as the grader, in the course, with the instructors' environment and the exchange as a terminal of
        formgrader's service has them (but no hub token: nbgrader's default authenticator)."""
        grader = self.users[GRADER]
        env = {
            "HOME": grader.pw_dir,
            "USER": GRADER,
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "JUPYTER_CONFIG_PATH": str(self.state / "jupyter-config" / "grader"),
        }
        proc = subprocess.run(
            [RUNUSER, "-u", GRADER, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.course,
        )
        assert proc.returncode == 0, f"as {GRADER}: {args}\n({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
        return proc

    def grade(self) -> str:
        """``python -m autograder grade 03_backprop`` of the course, as the grader."""
        args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", self.course]
        return self.as_grader(args, timeout=GRADE_TIMEOUT).stdout

    def nbgrader(self, command: str, *extra: str) -> str:
        return self.as_grader(
            [sys.executable, "-m", "nbgrader", command, ASSIGNMENT, f"--Exchange.root={self.exchange}", *extra]
        ).stderr


def answers(url: str) -> tuple[int | None, str]:
    """(the HTTP status of a GET of url, redirects not followed, None where nothing answers; its Location)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=10) as reply:
            return reply.status, reply.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")
    except OSError:
        return None, ""


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    """The hub, up (the launcher's one command), until the module's tests are done; then everything is removed."""
    make_passable([COURSE_ROOT, Path(os.path.realpath(sys.executable)), Path(sys.base_prefix), STUDENT_VENV])
    users = {name: fresh_user(name) for name in (INSTRUCTOR, *STUDENTS, GRADER)}
    state = Path(tempfile.mkdtemp(prefix="autograder-hub-", dir="/tmp"))
    ports = []
    while len(ports) < 4:  # the hub, its API, the proxy's API, formgrader
        port = free_port()
        if port not in ports:
            ports.append(port)
    password = secrets.token_urlsafe(18)
    log = state / "hub.log"
    args = [
        sys.executable,
        UP,
        f"--instructors={INSTRUCTOR}",
        f"--students={','.join(STUDENTS)}",
        f"--grader={GRADER}",
        "--ip=127.0.0.1",
        f"--port={ports[0]}",
        f"--hub-port={ports[1]}",
        f"--proxy-api-port={ports[2]}",
        f"--formgrader-port={ports[3]}",
        f"--state={state}",
        f"--exchange={state / 'exchange'}",
        f"--student-venv={STUDENT_VENV}",
        f"--assignments={ASSIGNMENT}",
        "--authenticator=shared-password",
        "--feedback-min-gap=0",  # alice's fixed hand-in is graded at once (the rate limit is test_service's)
    ]
    env = os.environ | {"SAE_HUB_PASSWORD": password}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(a) for a in args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{ports[0]}"
    hub = Hub(url, password, state, log, proc, users)
    try:
        deadline = time.monotonic() + HUB_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            # the hub's API, and formgrader's route (the proxy adds it once the service answers)
            service = answers(f"{url}/services/{COURSE_ID}/")  # formgrader's own redirect, once it is routed
            if answers(f"{url}/hub/api/")[0] == 200 and service[0] == 302 and "/formgrader" in service[1]:
                break
            time.sleep(1)
        else:
            pytest.fail(
                f"the hub did not come up within {HUB_TIMEOUT} s (exit status {proc.poll()}):\n{hub.log_tail()}"
            )
        hub.seen["up"] = time.monotonic() - (deadline - HUB_TIMEOUT)
        print(f"test_hub: the hub answered after {hub.seen['up']:.0f} s")
        # the grader releases 03_backprop to the exchange (formgrader's Release button runs the same), once the
        # assignments whose solutions it gives students (01's activations, 02's forward_pass) are past their due
        # dates, as in a term that released them in order (autograder/exchange.py: OrderedReleaseAssignment)
        for earlier in EARLIER_SOLUTIONS[ASSIGNMENT]:
            hub.as_grader([sys.executable, "-m", "nbgrader", "db", "assignment", "add", earlier, f"--duedate={PAST}"])
        hub.seen["release"] = hub.nbgrader("release_assignment")
        yield hub
    finally:
        if proc.poll() is None:
            proc.terminate()  # the hub stops the users' servers and its services, then itself
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        left = kill_processes_of({entry.pw_uid for entry in users.values()})
        if left:
            print(f"test_hub: killed {len(left)} processes the hub left running as the test's users: {left}")
        shutil.rmtree(state, ignore_errors=True)
        for entry in users.values():
            shutil.rmtree(entry.pw_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    """Chromium (the system's), shared by the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright cannot be imported ({e}): pip install playwright")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=[*LOCAL_ONLY_ARGS, "--no-sandbox"])
        yield browser
        browser.close()


@contextlib.contextmanager
def session(browser, hub: Hub, user: str) -> Iterator:
    """A page of a fresh browser context (127.0.0.1 only) in which user has logged in to the hub."""
    from urllib.parse import urlparse

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT)

    def local_only(route):
        where = urlparse(route.request.url)
        route.continue_() if where.hostname == "127.0.0.1" or where.scheme == "file" else route.abort()

    context.route("**/*", local_only)
    try:
        page = context.new_page()
        page.goto(f"{hub.url}/hub/login")
        page.fill("input#username_input", user)
        page.fill("input#password_input", hub.password)
        page.click("#login_submit")
        yield page
    finally:
        context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"hub-{name}.png"))


def own_lab(page, hub: Hub, user: str) -> None:
    """Wait until the logged-in user's own JupyterLab (spawned by the hub) is up in the page."""
    page.wait_for_url(f"{hub.url}/user/{user}/lab**")
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for()
    page.locator(".jp-DirListing").wait_for()


def assignment_list(page) -> None:
    """Nbgrader > Assignment List, loaded (the released list has an item or says there is none)."""
    page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    page.locator("#nbgrader-assignment-list #released_assignments_list_loading").wait_for(state="hidden")
    page.wait_for_function(
        "() => ['released', 'fetched', 'submitted'].every(k => document.querySelector("
        "`#${k}_assignments_list_loading`).hidden)"
    )


def refresh_list(page) -> None:
    page.locator("#refresh_assignments_list").click()
    page.wait_for_function(
        "() => ['released', 'fetched', 'submitted'].every(k => document.querySelector("
        "`#${k}_assignments_list_loading`).hidden)"
    )


def row(page, kind: str):
    """The Assignment List's row of 03_backprop in the list kind (released, fetched, submitted)."""
    return page.locator(f"#{kind}_assignments_list > .list_item", has_text=ASSIGNMENT)


def contents(page, hub: Hub, user: str, path: str, model: dict | None = None) -> dict:
    """GET (or PUT model to) Jupyter's contents API of user's server at path, from the page (its cookies, its
    _xsrf token, as JupyterLab's own requests)."""
    return page.evaluate(
        """async ([url, model]) => {
            const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '';
            const headers = {'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf)};
            const reply = await fetch(url, model === null ? {headers} : {
                method: 'PUT', body: JSON.stringify(model), headers});
            return {status: reply.status, body: await reply.json()};
        }""",
        [f"{hub.url}/user/{user}/api/contents/{quote(path)}?content=1", model],
    )


def feedback_scores(page_html: str) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """(the notebook's score, max), {grade_id: (score, max)}, from a feedback page's header."""
    return exchange_feedback_scores(page_html, NOTEBOOK)


# ---------------------------------------------------------------------------------------------- student steps

STUDENT_FOLDER = f"{COURSE_ID}/{ASSIGNMENT}"  # path_includes_course: ~/<course>/<assignment>


def fetch(page, hub: Hub, user: str) -> None:
    """In the Assignment List: Fetch 03_backprop; it moves to the downloaded list, with its notebook."""
    assignment_list(page)
    row(page, "released").locator("button", has_text="Fetch").wait_for()
    shot(page, f"{user.rsplit('-', 1)[1]}-assignment-list")
    row(page, "released").locator("button", has_text="Fetch").click()
    row(page, "fetched").locator("button", has_text="Submit").wait_for()


def write_answers(page, hub: Hub, user: str, answers: dict) -> None:
    """The fetched notebook with answers typed in (course.fill_answers), saved through the contents API."""
    path = f"{STUDENT_FOLDER}/{NOTEBOOK}.ipynb"
    got = contents(page, hub, user, path)
    assert got["status"] == 200, got
    fetched = nbformat.from_dict(got["body"]["content"])
    source = nbformat.read(hub.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    filled = fill_answers(source, fetched, answers)
    put = contents(page, hub, user, path, {"type": "notebook", "format": "json", "content": filled})
    assert put["status"] == 200, put
    on_disk = Path(hub.users[user].pw_dir) / path
    assert on_disk.stat().st_uid == hub.users[user].pw_uid, f"{on_disk} is not {user}'s"


def show_answer(page, hub: Hub, user: str, grade_id: str, picture: str) -> None:
    """Open the notebook in JupyterLab at the answer cell grade_id, for a screenshot."""
    page.goto(f"{hub.url}/user/{user}/lab/tree/{STUDENT_FOLDER}/{NOTEBOOK}.ipynb")
    nb = nbformat.read(Path(hub.users[user].pw_dir) / STUDENT_FOLDER / f"{NOTEBOOK}.ipynb", as_version=4)
    (index,) = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell = page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}']")
    page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{len(nb.cells) - 1}']").wait_for(
        state="attached"
    )
    cell.scroll_into_view_if_needed()
    cell.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    shot(page, picture)


def submit(page, hub: Hub, user: str) -> float:
    """Click Submit in the Assignment List; the time of the click (time.monotonic()). A new hand-in of user's,
    owned by user, is in the exchange's inbound/ when the list shows it submitted."""
    inbound = hub.exchange / COURSE_ID / "inbound"
    before = set(inbound.glob(f"{user}+{ASSIGNMENT}+*"))
    assignment_list(page)
    count = row(page, "submitted").locator(".nested_list_item").count()
    clicked = time.monotonic()
    row(page, "fetched").locator("button", has_text="Submit").click()
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n",
        arg=["#submitted_assignments_list > .list_item .nested_list_item", count],
    )
    new = set(inbound.glob(f"{user}+{ASSIGNMENT}+*")) - before
    assert len(new) == 1, f"Submit made {len(new)} hand-ins of {user}: {sorted(map(str, new))}"
    assert new.pop().stat().st_uid == hub.users[user].pw_uid, f"{user}'s hand-in is not {user}'s"
    return clicked


def grade_by_hand(hub: Hub) -> None:
    """Without the feedback service: what an instructor runs in a terminal of formgrader's service."""
    hub.seen.setdefault("by hand", []).append(hub.nbgrader("collect"))
    hub.grade()
    hub.nbgrader("release_feedback")


def wait_for_feedback(page, hub: Hub, user: str, since: float) -> float:
    """Refresh the Assignment List until its latest hand-in offers feedback to fetch (the service's, within
    FEEDBACK_WITHIN s of since; by hand without it); the seconds it took."""
    latest = row(page, "submitted").locator(".nested_list_item").last
    if not SERVICE:
        grade_by_hand(hub)
    deadline = since + (FEEDBACK_WITHIN if SERVICE else UI_TIMEOUT / 1000)
    while True:
        refresh_list(page)
        if "feedback available to fetch" in latest.inner_text():
            return time.monotonic() - since
        if time.monotonic() > deadline:
            shot(page, f"{user.rsplit('-', 1)[1]}-no-feedback")
            pytest.fail(
                f"{user}'s Assignment List offers no feedback {time.monotonic() - since:.0f} s after Submit "
                f"(the service: {SERVICE}):\n{page.locator('#submitted_assignments_list').inner_text()}\n"
                + hub.log_tail()
            )
        page.wait_for_timeout(1000)


def fetch_feedback(page, hub: Hub, user: str, picture: str) -> str:
    """Click Fetch Feedback, open the latest feedback page (in the browser, from the user's server); its HTML."""
    row(page, "submitted").locator("button", has_text="Fetch Feedback").click()
    row(page, "submitted").locator(".nested_list_item").last.locator("a", has_text="view feedback").wait_for()
    shot(page, f"{picture}-list")
    listing = contents(page, hub, user, f"{STUDENT_FOLDER}/feedback")
    assert listing["status"] == 200, listing
    latest = max(entry["name"] for entry in listing["body"]["content"])  # nbgrader's timestamps sort as times
    address = f"{hub.url}/user/{user}/files/{quote(f'{STUDENT_FOLDER}/feedback/{latest}/{NOTEBOOK}.html')}"
    reply = page.goto(address)
    assert reply.ok, f"{address}: {reply.status}"
    shot(page, picture)
    return reply.text()


def diagnosis(page_html: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page_html)).split())


# ---------------------------------------------------------------------------------------------- the tests


def test_students_fetch_and_submit_through_the_assignment_list(hub, browser):
    for user in STUDENTS:
        with session(browser, hub, user) as page:
            own_lab(page, hub, user)
            short = user.rsplit("-", 1)[1]
            shot(page, f"{short}-lab")
            # the student environment: nbgrader's instructor tools are off in her own server
            tabs = page.evaluate("() => [...document.querySelectorAll('.jp-SideBar .lm-TabBar-tab')].map(t => t.title)")
            assert not any("Create Assignment" in t for t in tabs), tabs
            fetch(page, hub, user)
            shot(page, f"{short}-fetched")
            write_answers(page, hub, user, ANSWERS[user])
            show_answer(page, hub, user, "backprop", f"{short}-wrong-backprop")
            hub.seen[f"submitted {user}"] = submit(page, hub, user)
            shot(page, f"{short}-submitted")


def test_feedback_names_the_bug_then_the_fix_gets_full_marks(hub, browser):
    if f"submitted {ALICE}" not in hub.seen:
        pytest.skip("alice did not submit (see the test before)")
    with session(browser, hub, ALICE) as page:
        own_lab(page, hub, ALICE)
        assignment_list(page)
        took = wait_for_feedback(page, hub, ALICE, hub.seen[f"submitted {ALICE}"])
        print(f"test_hub: alice's first feedback offered {took:.0f} s after Submit (service: {SERVICE})")
        page_html = fetch_feedback(page, hub, ALICE, "alice-feedback-wrong")
        (score, top), cells = feedback_scores(page_html)
        assert top == MAX_SCORE and score < MAX_SCORE, (score, top)
        failed = {gid for gid, (got, most) in cells.items() if got < most}
        assert failed == {"backprop_dW1", "backprop_dW2"}, cells
        assert NAMED[ALICE] in diagnosis(page_html), "alice's feedback does not name her bug"
        assert "BEGIN HIDDEN TESTS" not in page_html

        # the fix: her backprop as the solution has it
        page.goto(f"{hub.url}/user/{ALICE}/lab")
        own_lab(page, hub, ALICE)
        write_answers(page, hub, ALICE, {})
        since = submit(page, hub, ALICE)
        took = wait_for_feedback(page, hub, ALICE, since)
        print(f"test_hub: alice's second feedback offered {took:.0f} s after Submit (service: {SERVICE})")
        shot(page, "alice-fixed-feedback-offered")
        page_html = fetch_feedback(page, hub, ALICE, "alice-feedback-fixed")
        assert feedback_scores(page_html)[0] == (MAX_SCORE, MAX_SCORE)
        hub.seen["alice fixed"] = True


def test_the_other_student_sees_his_own_work_only(hub, browser):
    if f"submitted {BOB}" not in hub.seen:
        pytest.skip("bob did not submit (see the first test)")
    with session(browser, hub, BOB) as page:
        own_lab(page, hub, BOB)
        assignment_list(page)
        wait_for_feedback(page, hub, BOB, hub.seen[f"submitted {BOB}"])
        page_html = fetch_feedback(page, hub, BOB, "bob-feedback")
        assert NAMED[BOB] in diagnosis(page_html) and NAMED[ALICE] not in diagnosis(page_html)
        page.goto(f"{hub.url}/user/{BOB}/lab")
        own_lab(page, hub, BOB)
        assignment_list(page)
        shot(page, "bob-assignment-list")
        hand_ins = row(page, "submitted").locator(".nested_list_item")
        assert hand_ins.count() == 1, "bob's Assignment List shows hand-ins that are not his"

        # alice's server, its files and its contents API, from bob's logged-in browser: the hub refuses
        for path in (
            "lab",
            f"files/{STUDENT_FOLDER}/{NOTEBOOK}.ipynb",
            f"api/contents/{STUDENT_FOLDER}/{NOTEBOOK}.ipynb?content=1",
        ):
            reply = page.goto(f"{hub.url}/user/{ALICE}/{path}")
            assert reply.status == 403, f"bob's browser got {reply.status} for alice's {path}"
            assert NAMED[ALICE] not in page.content() and "def backprop" not in page.content()
        shot(page, "bob-refused-alices-server")
        # nor may a student open formgrader
        reply = page.goto(f"{hub.url}/services/{COURSE_ID}/formgrader")
        assert reply.status == 403, f"bob's browser got {reply.status} for formgrader"
        shot(page, "bob-refused-formgrader")

    # as the user bob: the exchange's inbound/ and feedback/, alice's home and her feedback
    alice_home = Path(hub.users[ALICE].pw_dir)
    attempts = [
        hub.exchange / COURSE_ID / "inbound",
        hub.exchange / COURSE_ID / "feedback",
        alice_home,
        alice_home / STUDENT_FOLDER / f"{NOTEBOOK}.ipynb",
        *sorted(alice_home.glob(f"{STUDENT_FOLDER}/feedback/*/{NOTEBOOK}.html")),
        hub.course / "gradebook.db",
        hub.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
    ]
    proc = subprocess.run(
        [RUNUSER, "-u", BOB, "--", sys.executable, "-c", SNOOP],
        input=json.dumps([str(p) for p in attempts]),
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    got = {path: what for path, what in seen.items() if not what.startswith("PermissionError")}
    assert not got, f"bob got at alice's work or the course: {json.dumps(got, indent=1)}"


def gradebook_rows(hub: Hub) -> tuple[dict[str, tuple[float, float]], list[tuple[str, str]], dict]:
    """From the course's gradebook: ({student: (score, max)}, the (student, grade_id) flagged for manual grading,
    {student: submission notebook id})."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gb:
        scores = {r["student"]: (r["score"], r["max_score"]) for r in gb.submission_dicts(ASSIGNMENT)}
        flagged, ids = [], {}
        for student in STUDENTS:
            nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            ids[student] = nb.id
            flagged += [(student, g.name) for g in nb.grades if g.needs_manual_grade]
        return scores, sorted(flagged), ids


def manual_score(hub: Hub) -> tuple[float | None, float | None]:
    from nbgrader.api import Gradebook

    student, gid, _ = MANUAL
    with Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(gid, NOTEBOOK, ASSIGNMENT, student)
        return grade.auto_score, grade.manual_score


def formgrader_students(page, hub: Hub) -> dict[str, tuple[float, float]]:
    page.goto(f"{hub.url}/services/{COURSE_ID}/formgrader/manage_students")
    page.wait_for_function("() => window.models && window.models.loaded === true")
    rows = page.locator("#main-table tr")
    shown = {}
    for i in range(rows.count()):
        score, top = rows.nth(i).locator("td.score").inner_text().split("/")
        shown[rows.nth(i).locator("td.id").inner_text().strip()] = (float(score), float(top))
    return shown


def test_instructor_grades_in_formgrader_through_the_hub(hub, browser):
    if "alice fixed" not in hub.seen or f"submitted {BOB}" not in hub.seen:
        pytest.skip("the students' term did not finish (see the tests before)")
    scores, flagged, ids = gradebook_rows(hub)
    assert scores == {ALICE: (MAX_SCORE, MAX_SCORE), BOB: (scores[BOB][0], MAX_SCORE)}, scores
    assert scores[BOB][0] < MAX_SCORE, scores
    assert flagged == [], f"grades flagged for manual grading (the course has no such cell): {flagged}"
    student, gid, points = MANUAL
    with session(browser, hub, INSTRUCTOR) as page:
        # an instructor lands on formgrader, the grader's service
        page.wait_for_url(f"{hub.url}/services/{COURSE_ID}/formgrader/**")
        page.locator("#main-table tr", has_text=ASSIGNMENT).wait_for()
        shot(page, "formgrader-assignments")
        shown = formgrader_students(page, hub)
        shot(page, "formgrader-students")
        assert shown == scores, f"formgrader shows {shown}, the gradebook holds {scores}"

        page.goto(f"{hub.url}/services/{COURSE_ID}/formgrader/manage_submissions/{ASSIGNMENT}")
        page.wait_for_function("() => window.models && window.models.loaded === true")
        shot(page, "formgrader-submissions")
        statuses = page.locator("#main-table td.status").all_inner_texts()
        assert sorted(s.strip() for s in statuses) == ["graded", "graded"], f"formgrader's statuses: {statuses}"

        page.goto(f"{hub.url}/services/{COURSE_ID}/formgrader/submissions/{ids[student]}/")
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded === true")
        score = page.locator(f"input.score#{gid}")
        assert score.input_value() == "", "a manual score is there before it was given"
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as put:
            score.fill(f"{points:g}")
            score.blur()  # formgrader saves on change
        assert put.value.ok and put.value.json()["manual_score"] == points, put.value.text()
        score.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(700)
        shot(page, "formgrader-manual-grade")
        assert manual_score(hub)[1] == points
        with_manual = gradebook_rows(hub)[0]

        # a regrade, as the grader (what `grade` in a terminal of the service runs), keeps the manual score
        hub.grade()
        assert manual_score(hub)[1] == points, "regrading lost the manual score"
        assert gradebook_rows(hub)[0] == with_manual, "regrading changed the scores"
        page.reload()
        page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded === true")
        assert page.locator(f"input.score#{gid}").input_value() == f"{points:g}", "formgrader lost the manual score"
        page.locator(f"input.score#{gid}").evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(700)
        shot(page, "formgrader-manual-grade-after-regrade")
        shown = formgrader_students(page, hub)
        shot(page, "formgrader-students-after-regrade")
        assert shown == with_manual, f"after regrading formgrader shows {shown}, the gradebook holds {with_manual}"
