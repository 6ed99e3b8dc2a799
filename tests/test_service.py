"""Feedback on submit (autograder/service.py): a hand-in in the exchange comes back as feedback that the
student fetches with nbgrader's own ``fetch_feedback``, as the Assignment List's "Fetch Feedback" does.

Each test has a fresh course (01_activations), a fresh exchange and a student: this test's own user (the
owner of the hand-ins, as collect's owner check wants), with a home of its own, who runs the real
``nbgrader fetch_assignment``, ``submit`` and ``fetch_feedback``. The service is driven one look at a time
(``FeedbackService.once``) where the test needs to say what happens between looks, and as the real
``python -m autograder serve`` process where it is started, stopped and killed (-9) mid-grade.

What is proven: a hand-in made while the service was down is graded when it starts, and a resubmission
is graded (not the stale first copy); the grade of record is the latest hand-in's, as batch ``grade``
computes it; the rate limit tells the student in words when their hand-in will be graded, and then
grades it; a hand-in followed by a newer one before it was graded is told so; a service killed with
SIGKILL in the middle of a grading loses nothing and, started again, grades the hand-in once, with one
submission in the gradebook. Grading needs a sandbox (root or user namespaces): skipped otherwise, with why.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import kernel, sandbox
from autograder.course import COURSE_ROOT, fill_answers
from autograder.service import FeedbackService

COURSE_ID = "sparse-autoencoder"
ASSIGNMENT = "01_activations"
NOTEBOOK = "activations"
WRONG = {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(z))"}  # the sign of z flipped
BUG_NAMED = "this is what happens when the sign in exp is flipped"
ME = pwd.getpwuid(os.geteuid()).pw_name
PYTHON = Path(sys.executable)
TIMEOUT = 600  # seconds for one command or one grading (a few here)

pytestmark = pytest.mark.skipif(
    not kernel.available(), reason=f"no sandbox for student code here ({sandbox.fallback_reason()})"
)


class Class:
    """A course, an exchange and one student (this user), set up as a class has them."""

    def __init__(self, tmp: Path):
        self.course, self.exchange, self.home = tmp / "course", tmp / "exchange", tmp / "home"
        self.course.mkdir()
        self.exchange.mkdir()
        self.exchange.chmod(0o1777)
        self.home.mkdir()
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", self.course)
        for kind in ("source", "release"):
            shutil.copytree(COURSE_ROOT / kind / ASSIGNMENT, self.course / kind / ASSIGNMENT)
        self.nbgrader("release_assignment", cwd=self.course)
        self.nbgrader("fetch_assignment")
        self.source = nbformat.read(self.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def nbgrader(self, command: str, cwd: Path | None = None) -> str:
        """``nbgrader COMMAND 01_activations``, as the student (in their home) unless cwd is the course."""
        env = os.environ | {"HOME": str(self.home), "PATH": f"{PYTHON.parent}{os.pathsep}{os.environ['PATH']}"}
        args = [
            PYTHON,
            "-m",
            "nbgrader",
            command,
            ASSIGNMENT,
            f"--course={COURSE_ID}",
            f"--Exchange.root={self.exchange}",
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd or self.home, env=env)
        assert proc.returncode == 0, f"nbgrader {command} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stderr

    def submit(self, answers: dict) -> Path:
        """Fill the fetched notebook with answers and hand it in; the new folder in inbound/."""
        path = self.home / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        nbformat.write(fill_answers(self.source, nbformat.read(path, as_version=4), answers), path)
        before = set(self.inbound.iterdir()) if self.inbound.is_dir() else set()
        time.sleep(1.1)  # nbgrader names a hand-in by the second
        self.nbgrader("submit")
        (new,) = set(self.inbound.iterdir()) - before
        return new

    def feedback(self) -> dict[str, str]:
        """fetch_feedback, then {the hand-in's timestamp: its feedback page} of everything fetched."""
        self.nbgrader("fetch_feedback")
        folder = self.home / ASSIGNMENT / "feedback"
        return {p.parent.name: html.unescape(p.read_text()) for p in sorted(folder.glob(f"*/{NOTEBOOK}.html"))}

    def latest_feedback(self) -> str:
        pages = self.feedback()
        return pages[max(pages)]

    def service(self, **kwargs) -> FeedbackService:
        return FeedbackService(_course(self.course), self.exchange, poll=0.5, **kwargs)

    def recorded(self) -> list[tuple[str, float]]:
        """[(student, score)] of every submission of 01_activations in the gradebook."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.course / 'gradebook.db'}") as gb:
            return [(row["student"], row["score"]) for row in gb.submission_dicts(ASSIGNMENT)]

    def events(self) -> list[dict]:
        path = self.course / "feedback_service" / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _course(root: Path):
    from autograder.course import Course

    return Course(root)


def score(page: str) -> tuple[float, float]:
    found = re.search(rf"<h4>{NOTEBOOK} \(Score: ([\d.]+) / ([\d.]+)\)</h4>", page)
    assert found, f"no score in the page: {page[:2000]}"
    return float(found[1]), float(found[2])


@pytest.fixture
def klass(tmp_path) -> Class:
    return Class(tmp_path)


def test_a_hand_in_made_while_the_service_was_down_and_a_resubmission_are_graded(klass):
    klass.submit(WRONG)
    service = klass.service(min_gap=0)  # started after the hand-in
    assert service.once() == [(ME, ASSIGNMENT)]
    page = klass.latest_feedback()
    assert score(page) == (7.0, 10.0) and BUG_NAMED in page, page[:3000]
    assert "BEGIN HIDDEN TESTS" not in page
    assert klass.recorded() == [(ME, 7.0)]

    klass.submit({})  # fixed: the resubmission is collected and graded, not the stale copy
    assert service.once() == [(ME, ASSIGNMENT)]
    assert score(klass.latest_feedback()) == (10.0, 10.0)
    assert klass.recorded() == [(ME, 10.0)]
    assert service.once() == [], "a hand-in already graded was graded again"
    assert [e["kind"] for e in klass.events()] == ["graded", "graded"]

    # The grade of record is batch grade's on the same hand-in: it changes nothing.
    proc = subprocess.run(
        [PYTHON, "-m", "autograder", "grade", ASSIGNMENT, f"--course={klass.course}"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert klass.recorded() == [(ME, 10.0)]


def test_the_rate_limit_says_when_a_hand_in_will_be_graded_then_grades_it(klass):
    service = klass.service(min_gap=600)
    klass.submit(WRONG)
    assert service.once() == [(ME, ASSIGNMENT)]
    klass.submit({})
    assert service.once() == [], "a hand-in within the rate limit was graded"
    page = klass.latest_feedback()
    assert "not graded yet" in page and "every 10 minutes" in page and "It will be graded at about" in page, page
    assert "<script" not in page
    assert klass.recorded() == [(ME, 7.0)]
    assert service.once() == [], "the queued hand-in was graded before its time"
    assert [e["kind"] for e in klass.events()] == ["graded", "queued"], "the queued page was written twice"

    assert service.once(now=time.time() + 601) == [(ME, ASSIGNMENT)]  # ten minutes later
    assert score(klass.latest_feedback()) == (10.0, 10.0), "the queued page was not replaced by the feedback"
    assert klass.recorded() == [(ME, 10.0)]


def test_a_hand_in_followed_by_a_newer_one_before_grading_is_told_so(klass):
    first = klass.submit(WRONG)
    klass.submit({})
    assert klass.service(min_gap=0).once() == [(ME, ASSIGNMENT)]
    pages = klass.feedback()
    assert len(pages) == 2, pages.keys()
    older, newer = (pages[k] for k in sorted(pages))
    assert "not graded (a newer hand-in came)" in older and "Only your latest hand-in is graded" in older
    assert score(newer) == (10.0, 10.0)
    assert [(e["kind"], e["hand_in"]) for e in klass.events()][0] == ("superseded", first.name)


def _lock_held(course: Path) -> bool:
    path = course / ".grading.lock"
    if not path.exists():
        return False
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _serve(klass: Class) -> subprocess.Popen:
    cmd = [PYTHON, "-m", "autograder", "serve", f"--course={klass.course}", f"--exchange={klass.exchange}"]
    log = open(klass.course.parent / "service.log", "ab")  # noqa: SIM115 (the process's own)
    return subprocess.Popen([*cmd, "--min-gap=0", "--poll=0.5"], stdout=log, stderr=log, start_new_session=True)


def _wait(what, seconds: float = TIMEOUT, *, log: Path | None = None) -> None:
    end = time.monotonic() + seconds
    while not what():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what.__name__}" + (f":\n{log.read_text()}" if log else ""))
        time.sleep(0.1)


def test_a_service_killed_mid_grade_loses_nothing_and_grades_once(klass):
    log = klass.course.parent / "service.log"
    klass.submit(WRONG)
    service = _serve(klass)
    try:

        def grading():
            return _lock_held(klass.course)

        _wait(grading, log=log)
        os.killpg(service.pid, signal.SIGKILL)  # mid-grade
        service.wait(timeout=60)
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
    _wait(lambda: not _lock_held(klass.course), 120, log=log)  # its worker died with it
    assert [e["kind"] for e in klass.events()] == [], "the killed service said a grading was done"
    klass.submit({})  # handed in while the service is down

    service = _serve(klass)
    try:

        def graded():
            return "graded" in [e["kind"] for e in klass.events()]

        _wait(graded, log=log)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=120) == 0, log.read_text()
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
    assert klass.recorded() == [(ME, 10.0)], "the gradebook holds other than one submission, the latest"
    pages = klass.feedback()
    assert score(pages[max(pages)]) == (10.0, 10.0)
    # the first hand-in, never graded, is told that the second was graded instead
    assert [e["kind"] for e in klass.events()] == ["superseded", "graded"], klass.events()


def test_a_hand_in_without_a_notebook_is_answered_and_stops_nothing(klass):
    """Found by an attack: a hand-in of the folder without its notebook was collected, then grade raised on
    every look, and nobody after it was graded. It is answered "not collected", and the next hand-in graded."""
    (klass.home / ASSIGNMENT / f"{NOTEBOOK}.ipynb").rename(klass.home / "kept.ipynb")
    klass.nbgrader("submit")
    service = klass.service(min_gap=0)
    assert service.once() == []
    # its page is written, though nbgrader's fetch_feedback looks for pages by the hand-in's notebooks: none here
    (page,) = (klass.exchange / COURSE_ID / "feedback").glob("*.html")
    assert "not collected" in page.read_text() and "holds no notebook" in page.read_text()
    assert [e["kind"] for e in klass.events()] == ["refused"]
    (klass.home / "kept.ipynb").rename(klass.home / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    klass.submit({})
    assert service.once() == [(ME, ASSIGNMENT)]
    assert score(klass.latest_feedback()) == (10.0, 10.0)
    assert [e["kind"] for e in klass.events()] == ["refused", "graded"]


def test_a_hand_in_collect_sets_aside_is_told_so_and_the_graded_one_is_not_graded_again(klass):
    """The latest hand-in's notebook is a link (collect sets it aside and takes the student's older one): its
    page says it was not collected, and the older one, graded already, is not graded again."""
    service = klass.service(min_gap=0)
    klass.submit(WRONG)
    assert service.once() == [(ME, ASSIGNMENT)]
    bad = klass.submit({})
    notebook = bad / f"{NOTEBOOK}.ipynb"
    notebook.unlink()
    notebook.symlink_to(klass.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")  # the answer key
    assert service.once() == []
    pages = klass.feedback()
    assert "not collected" in pages[max(pages)] and score(pages[min(pages)]) == (7.0, 10.0)
    assert klass.recorded() == [(ME, 7.0)]
    assert [e["kind"] for e in klass.events()] == ["graded", "refused"]


def test_a_course_folder_in_the_exchange_that_is_not_the_graders_is_not_served(klass, caplog):
    """Found by an attack: in an exchange everyone may write, a student who made the course's folder first
    (here: a link to a folder of theirs) receives every hand-in. The service collects nothing from it."""
    klass.submit(WRONG)
    course_folder = klass.exchange / COURSE_ID
    course_folder.rename(klass.exchange / "theirs")
    course_folder.symlink_to(klass.exchange / "theirs")
    service = klass.service(min_gap=0)
    with caplog.at_level("ERROR", logger="autograder.service"):
        assert service.once() == [] and service.once() == []
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1  # said once
    assert "is a link" in caplog.text and "not grading" in caplog.text
    assert not (klass.course / "submitted").exists() and klass.events() == []
