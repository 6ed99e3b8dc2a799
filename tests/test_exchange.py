"""A term through nbgrader's exchange, end to end, with real unprivileged users.

The instructor (root, in a scratch copy of the course) releases 01_activations to a fresh exchange
with ``nbgrader release_assignment``; two local users who are not root, ``autograder-alice`` and
``autograder-bob``, each with a fresh home of their own, fetch it with ``nbgrader fetch_assignment``,
fill it in (alice with the solutions, bob with a sigmoid whose sign is wrong) and hand it in with
``nbgrader submit``; the instructor runs ``nbgrader collect``, ``python -m autograder grade`` and
``nbgrader release_feedback``; each student runs ``nbgrader fetch_feedback`` and finds their own
feedback in their home: alice 10 of 10, bob less, with the sigmoid part failed, as the gradebook says.
A folder bob hands in in alice's name, dated after hers, is not collected (autograder/exchange.py);
the exchange's root is sticky, so he cannot swap the course's folder for his own either.
Bob can list neither the exchange's inbound nor its feedback folder, nor read anything in alice's
home, and his fetch_feedback brings his own feedback only. What he could do, knowing the names, is
read alice's files in the exchange: nbgrader's exchange keeps them apart by unguessable names, not by
file modes; an xfail (strict) test shows it, and turns into a failure the day that changes.

The tests at the end release assignments in order: a release that gives students an earlier assignment's
solutions (04 holds 03's backprop) is refused until that assignment is past its due date in the gradebook, and
leaves the exchange as it was; after the due date, or with allow_early, it goes (autograder/exchange.py's
OrderedReleaseAssignment). Each has a course and an exchange of its own (about 5 s each).

Every command is the real command line, as a class runs it. It needs root (useradd) and is skipped
otherwise, with why; the users stay (their names are stable, so reruns reuse them), their homes, the
exchange and the course copy are removed at the end. To let the students run the course's Python,
the folders above the checkout and the interpreter are made passable (o+x), as tests/run_as_user.sh
does, and each change is printed.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest
from nbgrader.utils import notebook_hash

from autograder.course import COURSE_ROOT, fill_answers

COURSE_ID = "sparse-autoencoder"
ASSIGNMENT = "01_activations"
NOTEBOOK = "activations"
MAX_SCORE = 10
ALICE, BOB = "autograder-alice", "autograder-bob"
#: {student: answers (course.Answers)}: alice types the solutions, bob a sigmoid with the sign of z wrong.
ANSWERS = {ALICE: {}, BOB: {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(z))"}}
#: When bob's hand-in in alice's name says it was made: later than anything she hands in.
FORGED_TIMESTAMP = "2099-01-01 00:00:00.000000 UTC"
#: What bob writes in his own hand-in's timestamp.txt after submitting, and when his second hand-in (a link
#: to the course's answer key, through collect's working folder) says it was made.
EARLY_TIMESTAMP = "2000-01-01 00:00:00.000000 UTC"
LINKED_TIMESTAMP = "2098-01-01 00:00:00.000000 UTC"

#: A plain PATH plus the system folders where useradd and runuser live.
SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
USERADD, RUNUSER = shutil.which("useradd", path=SYSTEM_PATH), shutil.which("runuser", path=SYSTEM_PATH)
PYTHON = Path(sys.executable)  # the venv's python, not resolved: its pyvenv.cfg makes the environment
TIMEOUT = 600  # seconds for one nbgrader command (about 2 s here)
GRADE_TIMEOUT = 1800  # seconds for grading two students (6 s here, on 2 cores)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it creates two local users with useradd"),
    pytest.mark.skipif(sys.platform != "linux", reason="needs Linux local users (useradd, runuser)"),
    pytest.mark.skipif(USERADD is None, reason="useradd not found (on PATH, /usr/sbin or /sbin)"),
    pytest.mark.skipif(RUNUSER is None, reason="runuser not found (util-linux; on PATH, /usr/sbin or /sbin)"),
]


# ---------------------------------------------------------------------------------------------- helpers


def shown(proc: subprocess.CompletedProcess) -> str:
    """A finished command, its status and output, for an assertion message."""
    args = " ".join(map(str, proc.args))
    return f"$ {args}\n(exit status {proc.returncode})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def run_ok(args: list, *, timeout: float = TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, shown(proc)
    return proc


def make_passable(targets: list[Path]) -> None:
    """o+x on every folder above each target that lacks it, so that any user reaches the targets
    (what tests/run_as_user.sh does); each change is printed."""
    for target in targets:
        for folder in Path(target).parents:
            if folder.is_dir() and not folder.stat().st_mode & stat.S_IXOTH:
                print(f"test_exchange: chmod o+x {folder} (so that the students reach {target})")
                folder.chmod(folder.stat().st_mode | stat.S_IXOTH)


def useradd(name: str, options: list[str]) -> pwd.struct_passwd:
    """useradd options name, tried again while the password file is locked (another test file, run at the same
    time by pytest-xdist, may be adding its own users); the new user's entry."""
    for _ in range(60):
        proc = subprocess.run([USERADD, *options, name], capture_output=True, text=True, timeout=TIMEOUT)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        time.sleep(0.5)
    raise AssertionError(shown(proc))


def ensure_user(name: str) -> pwd.struct_passwd:
    """The system user name, made if missing: a group of its own, no login shell, and no home in the
    password file (each run makes a fresh one and passes it as HOME), so that reruns reuse it."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        options = ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
        return useradd(name, [*options, "--shell", "/usr/sbin/nologin"])


@dataclass
class Student:
    name: str
    uid: int
    gid: int
    home: Path  # fresh for this run, 0700, theirs

    def env(self) -> list[str]:
        """``env -i`` and a student's environment: their HOME (where nbgrader keeps its cache), a plain PATH."""
        path = f"{PYTHON.parent}:/usr/local/bin:/usr/bin:/bin"
        variables = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "PATH": path, "LANG": "C.UTF-8"}
        return ["env", "-i", *(f"{k}={v}" for k, v in variables.items()), "PYTHONDONTWRITEBYTECODE=1"]

    def run(self, args: list, *, input: str | None = None) -> subprocess.CompletedProcess:
        """Run args as this user, from their home; it must succeed."""
        proc = subprocess.run(
            [RUNUSER, "-u", self.name, "--", *self.env(), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=self.home,
            input=input,
        )
        assert proc.returncode == 0, f"as {self.name}:\n{shown(proc)}"
        return proc

    def nbgrader(self, command: str, exchange: Path) -> subprocess.CompletedProcess:
        """``nbgrader COMMAND 01_activations --course sparse-autoencoder`` as this student."""
        return self.run(
            [PYTHON, "-m", "nbgrader", command, ASSIGNMENT, f"--course={COURSE_ID}", f"--Exchange.root={exchange}"]
        )


def instructor(course: Path, exchange: Path, command: str) -> subprocess.CompletedProcess:
    """``python -m nbgrader COMMAND 01_activations`` as the instructor (root), in the course copy; the
    environment's bin/ on PATH (nbgrader runs alembic from there for the gradebook)."""
    args = [PYTHON, "-m", "nbgrader", command, ASSIGNMENT, f"--CourseDirectory.course_id={COURSE_ID}"]
    env = os.environ | {"PATH": f"{PYTHON.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return run_ok([*args, f"--Exchange.root={exchange}"], cwd=course, env=env)


#: Run as bob: tries to list each folder and read each file given (JSON on stdin), prints what it got.
SNOOP = """
import json, os, sys
seen = {}
for path in json.load(sys.stdin):
    try:
        if os.path.isdir(path):
            seen[path] = "listed: " + ", ".join(sorted(os.listdir(path)))
        else:
            with open(path, "rb") as fh:
                seen[path] = "read %d bytes" % len(fh.read())
    except PermissionError as error:
        seen[path] = "PermissionError: " + str(error)
    except OSError as error:
        seen[path] = "%s: %s" % (type(error).__name__, error)
print(json.dumps(seen))
"""


def feedback_scores(page: str, notebook: str = NOTEBOOK) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """(the notebook's score, max), {grade_id: (score, max)} of each test cell, from a feedback page's
    header as the course's template writes it: ``<h4>activations (Score: 7.0 / 10.0)</h4>`` then one line
    per test cell, ``<li><a href="#sigmoid_values">Part A — sigmoid: <code class="part-id">sigmoid_values</code>
    </a> (Score: 0.0 / 2.0)</li>``."""
    total = re.search(rf"<h4>{notebook} \(Score: ([\d.]+) / ([\d.]+)\)</h4>", page)
    assert total, f"no score in the feedback page's header: {page[:3000]}"
    line = r'<li><a href="#([\w-]+)">[^\n]*?<code class="part-id">\1</code></a> \(Score: ([\d.]+) / ([\d.]+)\)</li>'
    cells = re.findall(line, page)
    assert cells, f"no test cell scores in the feedback page: {page[:3000]}"
    return (float(total[1]), float(total[2])), {gid: (float(a), float(b)) for gid, a, b in cells}


def is_sigmoid_part(grade_id: str) -> bool:
    """Part A's test cells (sigmoid_values, sigmoid_extremes), not Part B's (sigmoid_prime_...)."""
    return grade_id.startswith("sigmoid_") and not grade_id.startswith("sigmoid_prime")


@dataclass
class Term:
    course: Path
    exchange: Path
    students: dict[str, Student]
    outputs: dict[str, str] = field(default_factory=dict)  # step: what it printed
    forged: Path | None = None  # bob's hand-in in alice's name
    unreadable: Path | None = None  # bob's folder whose name has no timestamp
    linked: Path | None = None  # bob's second hand-in, whose notebook is a link to the answer key

    def log(self) -> str:
        """What each step printed, for an assertion message."""
        return "\n".join(f"--- {step}\n{text}" for step, text in self.outputs.items())

    def hand_in(self, student: str) -> Path:
        """The student's own hand-in in the exchange's inbound/ (not bob's folders made to fool collect)."""
        inbound = self.exchange / COURSE_ID / "inbound"
        made_to_fool = (self.forged, self.unreadable, self.linked)
        (own,) = [p for p in inbound.glob(f"{student}+{ASSIGNMENT}+*") if p not in made_to_fool]
        return own

    def fetched_feedback(self, student: str) -> list[Path]:
        """The feedback pages fetch_feedback put in the student's home: 01_activations/feedback/<time>/*.html."""
        return sorted((self.students[student].home / ASSIGNMENT / "feedback").glob("*/*.html"))


# ---------------------------------------------------------------------------------------------- the term


@pytest.fixture(scope="module")
def term():
    """The whole term, once; yields a Term. Cleans up the homes, the exchange and the course copy."""
    make_passable([COURSE_ROOT, Path(os.path.realpath(sys.executable)), Path(sys.base_prefix)])
    made: list[Path] = []
    try:
        students = {}
        for name in (ALICE, BOB):
            entry = ensure_user(name)
            home = Path(tempfile.mkdtemp(prefix=f"{name}-home-", dir="/tmp"))  # 0700
            made.append(home)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            students[name] = Student(name, entry.pw_uid, entry.pw_gid, home)

        # The exchange: nbgrader wants its root writable by everyone (release_assignment would make it so);
        # sticky, as docs/instructors.md says, so that no student can swap the course's folder for one of their own.
        exchange = Path(tempfile.mkdtemp(prefix="autograder-exchange-", dir="/tmp"))
        made.append(exchange)
        exchange.chmod(0o1777)  # sticky: no student may rename or remove the course's folder in it

        # The instructor's course: a scratch copy of source/, release/ and nbgrader_config.py.
        course = Path(tempfile.mkdtemp(prefix="autograder-exchange-course-", dir="/tmp"))
        made.append(course)
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", course)
        for kind in ("source", "release"):
            shutil.copytree(COURSE_ROOT / kind / ASSIGNMENT, course / kind / ASSIGNMENT)
        t = Term(course, exchange, students)

        t.outputs["release_assignment"] = instructor(course, exchange, "release_assignment").stderr

        source_nb = nbformat.read(course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
        for name, student in students.items():
            t.outputs[f"fetch_assignment {name}"] = student.nbgrader("fetch_assignment", exchange).stderr
            path = student.home / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
            assert path.is_file(), f"{name}'s fetch_assignment brought no {path}"
            filled = fill_answers(source_nb, nbformat.read(path, as_version=4), ANSWERS[name])
            # The student saves the notebook (so it stays theirs, as the editor leaves it).
            code = "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())"
            student.run([PYTHON, "-c", code, path], input=nbformat.writes(filled))
            assert path.stat().st_uid == student.uid, f"{path} is not owned by {name}"
            t.outputs[f"submit {name}"] = student.nbgrader("submit", exchange).stderr

        # Bob hands in as alice: a folder named for her, his notebook in it, dated in the future (so that
        # nbgrader's collect, which takes the latest per name, would prefer it to anything she hands in).
        inbound = exchange / COURSE_ID / "inbound"
        forged = inbound / f"{ALICE}+{ASSIGNMENT}+{FORGED_TIMESTAMP}+forged"
        code = (
            "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2]); "
            "open(sys.argv[2] + '/timestamp.txt', 'w').write(sys.argv[3])"
        )
        students[BOB].run([PYTHON, "-c", code, students[BOB].home / ASSIGNMENT, forged, FORGED_TIMESTAMP])
        t.forged = forged
        # and a folder whose name holds no timestamp (it stopped nbgrader's collect for the whole class)
        unreadable = inbound / f"{BOB}+{ASSIGNMENT}+not a time+x"
        students[BOB].run([PYTHON, "-c", "import os, sys; os.mkdir(sys.argv[1])", unreadable])
        t.unreadable = unreadable
        # and, after submitting: his own hand-in's timestamp.txt rewritten to long ago, and a second hand-in,
        # dated later, whose notebook is a link to the answer key (collect runs in the course root)
        own = t.hand_in(BOB)
        students[BOB].run(
            [
                PYTHON,
                "-c",
                "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                own / "timestamp.txt",
                EARLY_TIMESTAMP,
            ]
        )
        linked = inbound / f"{BOB}+{ASSIGNMENT}+{LINKED_TIMESTAMP}+linked"
        key = f"/proc/self/cwd/source/{ASSIGNMENT}/{NOTEBOOK}.ipynb"
        code = "import os, sys; os.mkdir(sys.argv[1]); os.symlink(sys.argv[2], sys.argv[1] + '/' + sys.argv[3])"
        students[BOB].run([PYTHON, "-c", code, linked, key, f"{NOTEBOOK}.ipynb"])
        t.linked = linked

        t.outputs["collect"] = instructor(course, exchange, "collect").stderr
        grade = run_ok(
            [PYTHON, "-m", "autograder", "grade", ASSIGNMENT, "--course", course], timeout=GRADE_TIMEOUT, cwd=course
        )
        t.outputs["grade"] = grade.stdout
        print(grade.stdout)
        # release_feedback sends what grade wrote to feedback/<student>/01_activations/ (the HTML with the
        # timestamp.txt and submission_secret.txt of the submission, which name the file in the exchange):
        # no `nbgrader generate_feedback` in between.
        t.outputs["release_feedback"] = instructor(course, exchange, "release_feedback").stderr
        for name, student in students.items():
            t.outputs[f"fetch_feedback {name}"] = student.nbgrader("fetch_feedback", exchange).stderr
        yield t
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the tests


def test_each_step_of_the_term_went_through_the_exchange(term):
    course, exchange = term.course, term.exchange / COURSE_ID
    # the root as nbgrader wants it (release_assignment would have changed it, and said so), and what it made
    assert "Permissions for exchange directory" not in term.outputs["release_assignment"], term.log()
    modes = {p.name: oct(p.stat().st_mode & 0o7777) for p in (term.exchange, exchange, *exchange.iterdir())}
    assert modes == {
        term.exchange.name: "0o1777",
        COURSE_ID: "0o755",
        "outbound": "0o755",
        "inbound": "0o2733",  # students may hand in, not list
        "feedback": "0o711",  # students may fetch what they can name, not list
    }, modes
    assert (exchange / "outbound" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file(), term.log()
    for name, student in term.students.items():
        handed_in = term.hand_in(name)
        assert handed_in.stat().st_uid == student.uid, f"{handed_in} is not {name}'s"
        assert (course / "submitted" / name / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file(), term.log()
        assert (course / "feedback" / name / ASSIGNMENT / f"{NOTEBOOK}.html").is_file(), term.log()
        assert len(term.fetched_feedback(name)) == 1, term.log()
    assert len(list((exchange / "feedback").iterdir())) == 2, term.log()


def test_grade_prints_each_student(term):
    rows = {
        line.split()[0]: line for line in term.outputs["grade"].splitlines() if line.split()[:1] in ([ALICE], [BOB])
    }
    assert set(rows) == {ALICE, BOB}, term.outputs["grade"]
    assert f"{MAX_SCORE}/{MAX_SCORE}" in rows[ALICE] and f"{MAX_SCORE}/{MAX_SCORE}" not in rows[BOB], rows


def test_the_gradebook_records_the_scores(term):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{term.course / 'gradebook.db'}") as gb:
        alice = gb.find_submission(ASSIGNMENT, ALICE).score
        bob = gb.find_submission(ASSIGNMENT, BOB).score
        cells = {g.name: (g.score, g.max_score) for g in gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, BOB).grades}
    assert alice == MAX_SCORE
    assert bob < MAX_SCORE
    failed = {gid for gid, (score, top) in cells.items() if top and score < top}
    assert failed and all(map(is_sigmoid_part, failed)), f"bob should lose the sigmoid's points only: {cells}"


def test_alice_fetches_full_marks(term):
    (page,) = term.fetched_feedback(ALICE)
    total, cells = feedback_scores(page.read_text())
    assert total == (MAX_SCORE, MAX_SCORE), page
    assert all(score == top for score, top in cells.values()), cells


def test_bob_fetches_less_and_the_sigmoid_part_failed(term):
    (page,) = term.fetched_feedback(BOB)
    text = page.read_text()
    (score, top), cells = feedback_scores(text)
    assert top == MAX_SCORE and score < MAX_SCORE, page
    failed = {gid for gid, (got, most) in cells.items() if got < most}
    assert failed and all(map(is_sigmoid_part, failed)), f"bob's feedback should fail the sigmoid only: {cells}"
    # the isolated checks' diagnosis names his bug
    assert "this is what happens when the sign in exp is flipped" in html.unescape(text)
    assert "BEGIN HIDDEN TESTS" not in text and "autograder.checks" not in text


def test_each_fetches_their_own_feedback_only(term):
    for name, student in term.students.items():
        (page,) = term.fetched_feedback(name)
        theirs = term.course / "feedback" / name / ASSIGNMENT / f"{NOTEBOOK}.html"
        assert page.read_bytes() == theirs.read_bytes(), f"{name} fetched feedback that is not theirs: {page}"
        assert page.stat().st_uid == student.uid, f"{page} is not owned by {name}"
    alices = (term.course / "feedback" / ALICE / ASSIGNMENT / f"{NOTEBOOK}.html").read_bytes()
    bobs_pages = list(term.students[BOB].home.rglob("*.html"))
    assert bobs_pages and all(p.read_bytes() != alices for p in bobs_pages), bobs_pages


def snoop_as_bob(term: Term, paths: list[Path]) -> dict[str, str]:
    """{path: what bob got}: as bob, list each folder and read each file of paths."""
    proc = term.students[BOB].run([PYTHON, "-c", SNOOP], input=json.dumps([str(p) for p in paths]))
    seen = json.loads(proc.stdout)
    print("as bob:", json.dumps(seen, indent=1))
    return seen


def test_bob_cannot_read_alices_work(term):
    """As bob: list the exchange's inbound and feedback folders (where every submission and every
    student's feedback is), list alice's home, open her notebook, her fetched feedback and her
    submission's secret (which names her feedback in the exchange) there. Every attempt fails."""
    alice, exchange = term.students[ALICE], term.exchange / COURSE_ID
    (alice_feedback,) = term.fetched_feedback(ALICE)
    (alice_secret,) = (alice.home / ".local/share/jupyter/nbgrader_cache" / COURSE_ID).glob("*/submission_secret.txt")
    attempts = [
        exchange / "inbound",
        exchange / "feedback",
        alice.home,
        alice.home / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
        alice_feedback,
        alice_secret,
    ]
    seen = snoop_as_bob(term, attempts)
    assert set(seen) == {str(p) for p in attempts}
    got = {path: what for path, what in seen.items() if not what.startswith("PermissionError")}
    assert not got, f"bob got at alice's work: {json.dumps(got, indent=1)}"


def alices_files_in_the_exchange(term: Term) -> tuple[Path, Path]:
    """(her feedback as release_feedback named it: the hash of her submission's secret; her submission's folder)."""
    exchange = term.exchange / COURSE_ID
    submission = term.hand_in(ALICE)
    secret = (submission / "submission_secret.txt").read_text()
    return exchange / "feedback" / f"{notebook_hash(secret=secret, notebook_id=NOTEBOOK)}.html", submission


def test_the_exchange_names_alices_feedback_by_a_secret_of_hers(term):
    """What keeps bob from alice's feedback in the exchange is its name: the hash of the secret that her
    submit left in her home (which bob cannot read, above) and in her submission (which he cannot list)."""
    feedback, submission = alices_files_in_the_exchange(term)
    (cached,) = (term.students[ALICE].home / ".local/share/jupyter/nbgrader_cache" / COURSE_ID).glob(f"{ALICE}+*")
    assert (cached / "submission_secret.txt").read_text() == (submission / "submission_secret.txt").read_text()
    assert feedback.is_file(), f"release_feedback's name for alice's feedback is not {feedback}"
    (page,) = term.fetched_feedback(ALICE)
    assert feedback.read_bytes() == page.read_bytes()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="nbgrader's default exchange hides a student's files from others by their names only: inbound/ "
    "(2733) and feedback/ (711) cannot be listed, but the files in them are 0644 (submit's set_perms; "
    "release_feedback copies the instructor's HTML with its mode, and must, as the student reads a file "
    "root owns) and a submission's folder is 0777, so whoever knows a name reads (or writes) it. The names "
    "are unguessable: a random string (submission), a hash of the submission's secret (feedback).",
)
def test_bob_cannot_open_alices_files_in_the_exchange_even_by_name(term):
    """As bob, who cannot list them: open alice's feedback and submission in the exchange by their exact
    names (the test knows them). nbgrader lets him (see the reason): this test says so, and fails (XPASS)
    the day the exchange refuses him."""
    feedback, submission = alices_files_in_the_exchange(term)
    seen = snoop_as_bob(term, [feedback, submission / f"{NOTEBOOK}.ipynb"])
    got = {path: what for path, what in seen.items() if not what.startswith("PermissionError")}
    assert not got, f"bob got at alice's work by name: {json.dumps(got, indent=1)}"


def test_a_hand_in_in_a_classmates_name_is_not_collected(term):
    """Bob's folder in alice's name, dated after hers, is set aside by collect (autograder/exchange.py,
    made nbgrader's collect by nbgrader_config.py), which says so; alice's own hand-in is collected and
    graded (10 of 10, above), and bob's own too. nbgrader's collect alone takes the forged one."""
    assert term.forged.stat().st_uid == term.students[BOB].uid
    said = " ".join(term.outputs["collect"].split())
    assert f"Not collected: {term.forged} names a student but was handed in by {BOB}" in said, term.log()
    alices = term.course / "submitted" / ALICE / ASSIGNMENT
    assert (alices / "timestamp.txt").read_text() != FORGED_TIMESTAMP, "bob's hand-in was collected as alice's"
    nb = nbformat.read(alices / f"{NOTEBOOK}.ipynb", as_version=4)
    assert ANSWERS[BOB]["sigmoid"] not in [c.source for c in nb.cells], "alice's submission holds bob's sigmoid"
    assert (term.course / "submitted" / BOB / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()


def test_a_folder_whose_name_is_not_a_hand_in_stops_no_collect(term):
    """Bob's folder named without a timestamp: collect (which went on: every student was graded) says so."""
    said = " ".join(term.outputs["collect"].split())
    assert f"Not collected: {term.unreadable}, whose name is not" in said, term.log()


def test_a_hand_in_that_links_to_the_answer_key_is_set_aside(term):
    """Bob's second hand-in, a link through collect's working folder to the course's source notebook (its
    solutions and hidden tests): set aside with why; his own plain hand-in is collected, and nothing of the
    answer key reaches his submission or the feedback he fetched."""
    said = " ".join(term.outputs["collect"].split())
    assert f"Not collected: {term.linked}: {NOTEBOOK}.ipynb is a symbolic link" in said, term.log()
    path = term.course / "submitted" / BOB / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    (page,) = term.fetched_feedback(BOB)
    for text in (path.read_text(), page.read_text()):
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert ANSWERS[BOB]["sigmoid"] in [c.source for c in nbformat.read(path, as_version=4).cells]


def test_the_time_a_student_writes_is_not_the_time_of_the_hand_in(term):
    """Bob rewrote his hand-in's timestamp.txt after submitting: collect keeps the machine's time (the last
    change of anything in it), which is after his submit, and says so."""
    from nbgrader.utils import parse_utc

    collected = parse_utc((term.course / "submitted" / BOB / ASSIGNMENT / "timestamp.txt").read_text())
    submitted_at = parse_utc(term.hand_in(BOB).name.split("+")[2])  # nbgrader submit's time, in the name
    assert collected >= submitted_at, (collected, submitted_at)
    assert f"{BOB}'s hand-in says it was made at 2000-01-01" in " ".join(term.outputs["collect"].split())


def test_bob_cannot_swap_the_courses_folder_in_the_sticky_exchange(term):
    """The root is 1777 (docs/instructors.md): bob may create in it, but not rename the instructor's course folder."""
    course = term.exchange / COURSE_ID
    code = (
        "import os, sys\n"
        "try:\n    os.rename(sys.argv[1], sys.argv[1] + '-old')\n    print('renamed')\n"
        "except OSError as e:\n    print(type(e).__name__)"
    )
    said = term.students[BOB].run([PYTHON, "-c", code, course]).stdout.strip()
    assert said == "PermissionError" and course.is_dir(), said


# ---------------------------------------------------------------------------------------------- releases in order
#
# Each later release gives students working solutions of earlier assignments (EARLIER_SOLUTIONS: 04's given cells
# hold 03's cost and a vectorized backprop), so nbgrader_config.py makes autograder/exchange.py's
# OrderedReleaseAssignment nbgrader's release_assignment: an assignment is released once every earlier one whose
# solutions it gives is past its due date in the gradebook. Each test below is an instructor's course of its own
# (nbgrader_config.py and release/ of the assignments it releases), a fresh exchange, due dates set as an
# instructor sets them, and the real command line.

#: Due dates: one long past, one still to come (UTC, as nbgrader's --duedate reads a time without a zone).
PAST, FUTURE = "2020-01-01 00:00:00 UTC", "2099-01-01 00:00:00 UTC"


@dataclass
class OrderedCourse:
    """An instructor's course (a scratch copy) and an exchange of its own."""

    root: Path
    exchange: Path

    def nbgrader(self, *args: str, program: Path | None = None) -> subprocess.CompletedProcess:
        """``python -m nbgrader ARGS`` (or program ARGS) in the course root, as the instructor; the exchange's root
        given; not checked."""
        env = os.environ | {"PATH": f"{PYTHON.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
        command = [program] if program else [PYTHON, "-m", "nbgrader"]
        args = [*command, *args, f"--Exchange.root={self.exchange}"]
        return subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, cwd=self.root, env=env
        )

    def release(self, assignment: str, *extra: str, program: Path | None = None) -> subprocess.CompletedProcess:
        return self.nbgrader("release_assignment", assignment, *extra, program=program)

    def due(self, **dates: str | datetime | None) -> None:
        """Each name=date its due date in the course's gradebook (made if missing), read as nbgrader's ``nbgrader
        db assignment add NAME --duedate=DATE`` reads it (its parse_utc); None: in the gradebook, no due date."""
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}", COURSE_ID) as gb:
            for name, date in dates.items():
                gb.update_or_create_assignment(name, duedate=date)

    @property
    def course_folder(self) -> Path:
        return self.exchange / COURSE_ID

    def released(self, assignment: str) -> list[str]:
        """What the exchange's outbound/ holds of the assignment (its top-level names), [] where nothing."""
        folder = self.course_folder / "outbound" / assignment
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def said(proc: subprocess.CompletedProcess) -> str:
    """What a command printed, its lines joined (nbgrader's log indents the lines of a message)."""
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.fixture
def ordered(tmp_path) -> OrderedCourse:
    """A course holding the release of every assignment, no gradebook yet, and an empty sticky exchange."""
    root, exchange = tmp_path / "course", tmp_path / "exchange"
    root.mkdir()
    exchange.mkdir()
    exchange.chmod(0o1777)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root)
    for folder in sorted((COURSE_ROOT / "release").iterdir()):
        if folder.is_dir():
            shutil.copytree(folder, root / "release" / folder.name)
    return OrderedCourse(root, exchange)


def test_releasing_04_before_03s_due_date_is_refused_and_leaves_the_exchange_as_it_was(ordered):
    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST, "03_backprop": FUTURE})
    proc = ordered.release("04_gradient_checking")
    text = said(proc)
    assert proc.returncode != 0, shown(proc)
    assert "03_backprop (cost, backprop): due 2099-01-01 00:00:00 UTC, still to come" in text, shown(proc)
    assert "Nothing was released" in text and "--OrderedReleaseAssignment.allow_early=True" in text, shown(proc)
    assert "nbgrader db assignment add 03_backprop --duedate=" in text, shown(proc)
    assert "01_activations (" not in text and "02_forward_pass (" not in text, "past due dates are not named"
    assert not ordered.course_folder.exists(), f"the refused release made {sorted(ordered.exchange.rglob('*'))}"


def test_releasing_after_the_due_dates_works(ordered):
    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST, "03_backprop": PAST})
    proc = ordered.release("04_gradient_checking")
    assert proc.returncode == 0, shown(proc)
    assert ordered.released("04_gradient_checking") == ["gradient_checking.ipynb", "lectures"], shown(proc)
    assert "not past their due date" not in said(proc), shown(proc)


@pytest.mark.parametrize("how", ["command line", "nbgrader_config.py"])
def test_allow_early_releases_and_says_what_it_gives_away(ordered, how):
    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST, "03_backprop": FUTURE})
    if how == "command line":
        proc = ordered.release("04_gradient_checking", "--OrderedReleaseAssignment.allow_early=True")
    else:
        with (ordered.root / "nbgrader_config.py").open("a") as config:
            config.write("\nc.OrderedReleaseAssignment.allow_early = True\n")
        proc = ordered.release("04_gradient_checking")
    assert proc.returncode == 0, shown(proc)
    assert "gradient_checking.ipynb" in ordered.released("04_gradient_checking"), shown(proc)
    text = said(proc)
    assert "WARNING" in proc.stderr and "03_backprop (cost, backprop): due 2099-01-01" in text, shown(proc)
    assert "Released anyway (OrderedReleaseAssignment.allow_early)" in text, shown(proc)


def test_01_gives_no_earlier_solutions_and_releases_with_no_due_dates_and_no_gradebook(ordered):
    proc = ordered.release("01_activations")
    assert proc.returncode == 0, shown(proc)
    assert "activations.ipynb" in ordered.released("01_activations"), shown(proc)
    assert not (ordered.root / "gradebook.db").exists(), "releasing 01 made a gradebook"


def test_no_gradebook_means_no_due_date_and_none_is_made(ordered):
    """An instructor releasing 02 in a course whose gradebook is missing (a wrong folder, db_url): refused, said
    why, and no empty gradebook left behind (nbgrader's Gradebook would make one)."""
    proc = ordered.release("02_forward_pass")
    assert proc.returncode != 0, shown(proc)
    assert "01_activations (sigmoid, tanh): no due date known" in said(proc), shown(proc)
    assert f"there is no gradebook at {ordered.root / 'gradebook.db'}" in said(proc), shown(proc)
    assert not (ordered.root / "gradebook.db").exists() and not ordered.course_folder.exists()


def test_an_earlier_assignment_missing_from_the_gradebook_or_without_a_due_date_is_open(ordered):
    ordered.due(**{"02_forward_pass": PAST})  # the gradebook exists; 01 is not in it
    proc = ordered.release("03_backprop")
    assert proc.returncode != 0, shown(proc)
    assert "01_activations (sigmoid, sigmoid_prime, tanh, tanh_prime): not in the gradebook" in said(proc), shown(proc)
    ordered.due(**{"01_activations": None})  # in the gradebook, with no due date (formgrader's default)
    proc = ordered.release("03_backprop")
    assert (
        proc.returncode != 0
        and "01_activations (sigmoid, sigmoid_prime, tanh, tanh_prime): no due date in the gradebook" in said(proc)
    ), shown(proc)
    assert not ordered.released("03_backprop")


def test_a_due_date_given_in_a_local_time_zone_is_compared_in_utc(ordered):
    """Due dates written in a zone far from UTC: an hour ahead, in Honolulu's (UTC-10) wall-clock time (read as
    UTC it would look 9 hours past), keeps 04 back; an hour ago, in Kiritimati's (UTC+14: read as UTC, 13 hours
    ahead), lets it go."""
    now = datetime.now(UTC)

    def wall_clock(when, zone: str) -> str:
        return f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M:%S} {zone}"

    def set_due(name: str, date: str) -> None:  # as an instructor sets it, on the command line
        proc = ordered.nbgrader("db", "assignment", "add", name, f"--duedate={date}")
        assert proc.returncode == 0, shown(proc)

    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST})
    set_due("03_backprop", wall_clock(now + timedelta(hours=1), "Pacific/Honolulu"))
    proc = ordered.release("04_gradient_checking")
    assert proc.returncode != 0, shown(proc)
    expected = (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert f"03_backprop (cost, backprop): due {expected} UTC, still to come" in said(proc), shown(proc)
    set_due("03_backprop", wall_clock(now - timedelta(hours=1), "Pacific/Kiritimati"))
    proc = ordered.release("04_gradient_checking")
    assert proc.returncode == 0 and ordered.released("04_gradient_checking"), shown(proc)


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_a_students_extension_keeps_an_assignment_open(ordered):
    """03 is past its due date, but one student has two more days on it (formgrader's extension): 04 waits.
    (nbgrader's add_submission warns, on an assignment the gradebook holds no notebook of.)"""
    from nbgrader.api import Gradebook

    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST})
    due = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    with Gradebook(f"sqlite:///{ordered.root / 'gradebook.db'}", COURSE_ID) as gb:
        gb.update_or_create_assignment("03_backprop", duedate=due)
        gb.update_or_create_student(ALICE)
        gb.add_submission("03_backprop", ALICE, extension=timedelta(days=2))
    proc = ordered.release("04_gradient_checking")
    assert proc.returncode != 0, shown(proc)
    later = (due + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert f"03_backprop (cost, backprop): due {later} UTC, still to come" in said(proc), shown(proc)


def test_releasing_05_while_03_and_04_are_open_is_refused(ordered):
    """05 gives 01's sigmoid and 04's numerical_gradient (nothing of 03): with 03 open, 04 cannot be past its due
    date in a term that released in order, so 05 waits for 04, and says so."""
    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST, "03_backprop": FUTURE})
    proc = ordered.release("05_sparse_autoencoder")
    assert proc.returncode != 0, shown(proc)
    assert "04_gradient_checking (numerical_gradient): not in the gradebook" in said(proc), shown(proc)
    assert "01_activations (" not in said(proc) and not ordered.course_folder.exists(), shown(proc)


def test_a_forced_rerelease_while_an_earlier_assignment_is_open_leaves_the_release_as_it_was(ordered):
    """04 was released after 03's due date; then 03's is moved to the future (an extension for the class). A
    ``--force`` release of 04 is refused before nbgrader removes anything: the students' copy stays whole."""
    ordered.due(**{"01_activations": PAST, "02_forward_pass": PAST, "03_backprop": PAST})
    assert ordered.release("04_gradient_checking").returncode == 0
    before = {p.relative_to(ordered.exchange): p.read_bytes() for p in ordered.exchange.rglob("*") if p.is_file()}
    ordered.due(**{"03_backprop": FUTURE})
    proc = ordered.release("04_gradient_checking", "--force")
    assert proc.returncode != 0 and "03_backprop (cost, backprop)" in said(proc), shown(proc)
    after = {p.relative_to(ordered.exchange): p.read_bytes() for p in ordered.exchange.rglob("*") if p.is_file()}
    assert after == before and before, "the refused --force release changed the exchange"


def test_an_unreadable_gradebook_is_said_and_refused(ordered):
    (ordered.root / "gradebook.db").write_bytes(b"not a database " * 100)
    proc = ordered.release("04_gradient_checking")
    text = said(proc)
    assert proc.returncode != 0, shown(proc)
    assert "could not be read (DatabaseError: (sqlite3.DatabaseError) file is not a database)" in text, shown(proc)
    assert not ordered.course_folder.exists()


def test_the_nbgrader_program_and_formgrader_use_the_guard(ordered):
    """The ``nbgrader`` program in the course root (nbgrader_config.py loaded) and formgrader's Release button
    (NbGraderAPI.release_assignment, with the course's configuration) both refuse."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    ordered.due(**{"01_activations": FUTURE})
    program = PYTHON.parent / "nbgrader"
    proc = ordered.release("02_forward_pass", program=program)
    assert proc.returncode != 0 and "01_activations (sigmoid, tanh): due 2099-01-01" in said(proc), shown(proc)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ordered.root)).load_config()
    config.CourseDirectory.root = str(ordered.root)
    config.Exchange.root = str(ordered.exchange)
    result = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config).release_assignment("02_forward_pass")
    assert not result["success"] and "01_activations (sigmoid, tanh)" in result["log"], result
    assert not ordered.course_folder.exists()
