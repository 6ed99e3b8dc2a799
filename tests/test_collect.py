"""What a hand-in in nbgrader's exchange holds reaches no further than it: collect, the time, feedback release.

A class's collect, grade and release_feedback, with the real command lines, on hand-ins in the exchange's
inbound/ as a student who reads ``autograder/exchange.py`` would leave them. All are made by the user
running the test (the suite as root, ``tests/run_as_user.sh`` as a user who is not root), in folders named
for several students, so that collect runs with ``--ExchangeCollect.check_owner=False`` (the owner check
has its own test with real users in tests/test_exchange.py). The course's late penalty is nbgrader's
"zero" (a late hand-in scores 0), and the due date lies between the on-time hand-ins and the late ones.

* alice: on time. bob: late. carol: late, her folder's name and timestamp.txt say two hours before the
  due date. dave: late, timestamp.txt and submission_secret.txt deleted.
* mallory: one plain hand-in on time, then later ones that hold a link to a file of the instructor's
  (mode 600), a link through /proc/self/cwd to the course's answer key (collect's working folder is the
  course), a link to /dev/zero, a dangling link, a FIFO, a hard link, a folder 20 deep, a device (as
  root): each is set aside, his plain one is collected.
* eve: a FIFO only: not collected, and nobody after her is stopped.
* frank: on time, his timestamp.txt says a time whose zone is "..", which stopped collect once.
* gus and hal: on time, their hand-ins named in zones %Z writes as offsets ("-03", "+04").
* ODD_NAMES: folders whose names are not hand-ins' (a zone that is a path, escape codes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import notebook_hash, parse_utc

from autograder import exchange
from autograder.course import Course, fill_answers

COURSE_ID = "sparse-autoencoder"
ASSIGNMENT, NOTEBOOK = "01_activations", "activations"
PYTHON = sys.executable
TIMEOUT = 600  # seconds for one command (a few here)
ON_TIME, LATE = ("alice", "frank", "gus", "hal", "mallory"), ("bob", "carol", "dave")
#: The zone nbgrader's submit writes in the names of gus's and hal's hand-ins: %Z of America/Sao_Paulo, and of a
#: zone east of UTC (a "+" in the time, where nbgrader's own reading of a name splits it at its "+").
ZONES = {"gus": "-03", "hal": "+04"}
#: Folder names that are not hand-ins: a zone that is a path (nbgrader's reading handed it to dateutil, which
#: raised out of collect: nobody was collected), escape codes that clear the instructor's terminal.
ODD_NAMES = (
    f"zed+{ASSIGNMENT}+2020-01-01 00:00:00 ..+x",
    f"\x1b[2J\x1b[Hall collected+{ASSIGNMENT}+2020-01-01 00:00:00 UTC+x",
)
CLAIM = "two hours before the due date"
SECRET = "the instructor's own secret, mode 600"
#: Each of mallory's later hand-ins, and what collect must say of it.
ATTACKS = {
    "secret_link": "is a symbolic link",
    "answer_key": "is a symbolic link",
    "dev_zero": "is a symbolic link",
    "dangling": "is a symbolic link",
    "fifo": "is a FIFO",
    "hard_link": "has another name",
    "deep": "folders deep",
}
if os.geteuid() == 0:
    ATTACKS["device"] = "is a device"


def run_ok(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=env)
    assert proc.returncode == 0, f"$ {' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}"
    return proc


def nbgrader(course: Path, ex: Path, command: str, *extra: str) -> str:
    """``python -m nbgrader COMMAND 01_activations`` in the course; what it said (nbgrader logs to stderr)."""
    args = [PYTHON, "-m", "nbgrader", command, ASSIGNMENT, f"--Exchange.root={ex}", *extra]
    return " ".join(run_ok(args, course).stderr.split())


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


class Class:
    """The course, the exchange and what each step said."""

    def __init__(self, root: Path):
        self.root = root
        self.course = Course().scratch(root / "course", [ASSIGNMENT], config=CONFIG).root
        self.exchange = root / "exchange"
        self.exchange.mkdir(mode=0o777)
        self.exchange.chmod(0o1777)
        self.said: dict[str, str] = {}
        self.made: dict[str, tuple[datetime, datetime]] = {}  # student: (before, after) their plain hand-in
        source_nb = nbformat.read(self.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
        release_nb = nbformat.read(self.course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
        self.solution = nbformat.writes(fill_answers(source_nb, release_nb, {}))
        self.secret = root / "instructor-secret.txt"
        self.secret.write_text(SECRET)
        self.secret.chmod(0o600)

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def hand_in(self, student: str, tag: str, *, name_time: datetime | None = None) -> Path:
        """A hand-in as nbgrader's submit makes it: the notebook, timestamp.txt, submission_secret.txt."""
        now = datetime.now(UTC)
        when = stamp(name_time or now)
        if student in ZONES:  # the time in the student's zone, as %Z writes it
            offset = int(ZONES[student]) * 3600
            when = ((name_time or now) + timedelta(seconds=offset)).strftime(f"%Y-%m-%d %H:%M:%S.%f {ZONES[student]}")
        folder = self.inbound / f"{student}+{ASSIGNMENT}+{when}+{tag}"
        folder.mkdir()
        (folder / f"{NOTEBOOK}.ipynb").write_text(self.solution)
        (folder / "timestamp.txt").write_text(stamp(name_time or now))
        (folder / "submission_secret.txt").write_text(f"{student}-{tag}-secret")
        folder.chmod(0o777)
        return folder

    def plain(self, student: str, **kw) -> Path:
        before = datetime.now(UTC)
        folder = self.hand_in(student, "plain", **kw)
        self.made[student] = (before, datetime.now(UTC))
        return folder

    def submitted(self, student: str) -> Path:
        return self.course / "submitted" / student / ASSIGNMENT


CONFIG = '\nc.LateSubmissionPlugin.penalty_method = "zero"\nc.CourseDirectory.course_id = "sparse-autoencoder"\n'


def attack(term: Class, kind: str, when: datetime) -> Path:
    """One of mallory's later hand-ins (dated after his plain one, so nbgrader would prefer it)."""
    folder = term.hand_in("mallory", kind, name_time=when)
    notebook = folder / f"{NOTEBOOK}.ipynb"
    if kind == "secret_link":
        (folder / "loot.txt").symlink_to(term.secret)
    elif kind == "answer_key":
        notebook.unlink()
        notebook.symlink_to(f"/proc/self/cwd/source/{ASSIGNMENT}/{NOTEBOOK}.ipynb")
    elif kind == "dev_zero":
        (folder / "zero.npy").symlink_to("/dev/zero")
    elif kind == "dangling":
        (folder / "gone.txt").symlink_to(term.root / "nowhere")
    elif kind == "fifo":
        os.mkfifo(folder / "pipe")
    elif kind == "hard_link":
        mine = term.root / "mallory-file"
        mine.write_text("mine")
        os.link(mine, folder / "twice.txt")
    elif kind == "deep":
        deep = folder.joinpath(*["d"] * 20)
        deep.mkdir(parents=True)
    elif kind == "device":
        os.mknod(folder / "null", 0o666 | 0o020000, os.makedev(1, 3))  # a character device: /dev/null's
    return folder


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    t = Class(tmp_path_factory.mktemp("collect"))
    t.said["release_assignment"] = nbgrader(t.course, t.exchange, "release_assignment")
    for student in ON_TIME:
        t.plain(student)
    (t.inbound.glob("frank+*").__next__() / "timestamp.txt").write_text("2020-01-01 00:00:00 ..")
    t.made["frank"] = (t.made["frank"][0], datetime.now(UTC))  # his last change: that write
    for odd in ODD_NAMES:
        (t.inbound / odd).mkdir()
    time.sleep(0.5)
    due = datetime.now(UTC)
    time.sleep(1.5)  # every late hand-in is made more than a second after the due date, whatever the clock's grain
    t.plain("bob")
    t.plain("carol", name_time=due - timedelta(hours=2))  # her folder's name and timestamp.txt: before the due date
    dave = t.plain("dave")
    (dave / "timestamp.txt").unlink()
    (dave / "submission_secret.txt").unlink()
    for k, kind in enumerate(ATTACKS):
        attack(t, kind, due + timedelta(days=1, minutes=k))
    os.mkfifo(t.hand_in("eve", "fifo") / "pipe")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{t.course / 'gradebook.db'}", COURSE_ID) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=due.replace(tzinfo=None))
    t.due = due
    t.said["collect"] = nbgrader(t.course, t.exchange, "collect", "--ExchangeCollect.check_owner=False")
    t.said["grade"] = run_ok([PYTHON, "-m", "autograder", "grade", ASSIGNMENT, "--course", t.course], t.course).stdout
    t.said["release_feedback"] = nbgrader(t.course, t.exchange, "release_feedback")
    print(json.dumps(t.said, indent=1))
    return t


def test_a_hand_in_that_holds_anything_but_plain_files_is_set_aside_with_why(term):
    said = term.said["collect"]
    for kind, why in ATTACKS.items():
        assert re.search(rf"Not collected: \S*mallory\+{ASSIGNMENT}\+[^+]*\+{kind}: [^\[]*{why}", said), (kind, said)
    assert re.search(rf"Not collected: \S*eve\+{ASSIGNMENT}\+[^+]*\+fifo: pipe is a FIFO", said), said


def test_names_that_are_not_hand_ins_stop_no_collect_and_reach_the_terminal_escaped(term):
    said = term.said["collect"]
    assert re.search(rf"Not collected: \S*zed\+{ASSIGNMENT}\+2020-01-01 00:00:00 \.\.\+x, whose name is not", said), (
        said
    )
    assert "\x1b" not in said and "\\x1b[2J\\x1b[Hall collected" in said, said


def test_every_other_hand_in_is_collected_and_nothing_a_link_points_to(term):
    for student in (*ON_TIME, *LATE):
        notebook = term.submitted(student) / f"{NOTEBOOK}.ipynb"
        assert notebook.read_text() == term.solution, student  # their plain hand-in, mallory's too
    assert not (term.course / "submitted" / "eve").exists()
    found = {p.name for p in (term.course / "submitted").rglob("*")}
    assert not found & {"loot.txt", "zero.npy", "gone.txt", "pipe", "twice.txt", "null", "d"}, found
    everything = b"".join(p.read_bytes() for p in (term.course / "submitted").rglob("*") if p.is_file())
    assert SECRET.encode() not in everything
    assert b"BEGIN HIDDEN TESTS" not in everything and b"BEGIN SOLUTION" not in everything
    assert len(everything) < 2**20  # nothing of /dev/zero


def test_the_time_of_a_hand_in_is_the_machines_not_the_students(term):
    for student, (before, after) in term.made.items():
        said = parse_utc((term.submitted(student) / "timestamp.txt").read_text())
        # its files' last change: at or after the moment the test began writing them, before it was done
        assert before.replace(tzinfo=None) - timedelta(seconds=1) <= said <= after.replace(tzinfo=None), student
    assert re.search(
        r"carol's hand-in says it was made at \S+ \S+; its files were last changed at", term.said["collect"]
    )


def test_a_late_hand_in_is_late_whatever_its_timestamp_says(term):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{term.course / 'gradebook.db'}", COURSE_ID) as gb:
        subs = {s: gb.find_submission(ASSIGNMENT, s) for s in (*ON_TIME, *LATE)}
        # what nbgrader's CSV export and formgrader give: the score less the late penalty
        scores = {s: sub.score - (sub.late_submission_penalty or 0) for s, sub in subs.items()}
        late = {s: sub.total_seconds_late for s, sub in subs.items()}
    assert {s: scores[s] for s in ON_TIME} == dict.fromkeys(ON_TIME, 10.0), scores
    assert {s: scores[s] for s in LATE} == dict.fromkeys(LATE, 0.0), (scores, late)  # the "zero" method
    assert all(late[s] > 0 for s in LATE) and not any(late[s] > 0 for s in ON_TIME), late


def test_a_missing_secret_stops_no_one_elses_feedback(term):
    said = term.said["release_feedback"]
    assert re.search(r"Feedback not released from \S*/dave/01_activations: FileNotFoundError", said), said
    released = {p.name for p in (term.exchange / COURSE_ID / "feedback").iterdir()}
    for student in ("alice", "bob", "carol", "frank", "gus", "hal", "mallory"):
        secret = (term.submitted(student) / "submission_secret.txt").read_text()
        assert f"{notebook_hash(secret=secret, notebook_id=NOTEBOOK)}.html" in released, student
    assert len(released) == 7, released


# ---------------------------------------------------------------------------------------------- read_hand_in


def _hand_in(tmp_path: Path, size: int = 3 << 20) -> Path:
    folder = tmp_path / "hand-in"
    folder.mkdir()
    (folder / "big.bin").write_bytes(b"x" * size)
    return folder


def test_a_file_that_grows_while_it_is_copied_is_refused(tmp_path, monkeypatch):
    folder = _hand_in(tmp_path)
    real = os.read

    def read_and_grow(fd, n):  # a writer appends between two reads of collect
        with open(folder / "big.bin", "ab") as fh:
            fh.write(b"more")
        return real(fd, n)

    monkeypatch.setattr(os, "read", read_and_grow)
    with pytest.raises(exchange.Refused, match="big.bin changed while it was collected"):
        exchange.read_hand_in(str(folder), str(tmp_path / "copy"))


def test_a_file_rewritten_in_place_while_it_is_copied_is_refused(tmp_path, monkeypatch):
    folder = _hand_in(tmp_path)
    real, calls = os.read, []

    def read_and_rewrite(fd, n):  # same size, other bytes: its mtime and ctime move
        calls.append(n)
        if len(calls) == 2:
            with open(folder / "big.bin", "r+b") as fh:
                fh.write(b"y" * 10)
        return real(fd, n)

    monkeypatch.setattr(os, "read", read_and_rewrite)
    with pytest.raises(exchange.Refused, match="big.bin changed while it was collected"):
        exchange.read_hand_in(str(folder), str(tmp_path / "copy"))


def test_a_file_swapped_for_a_link_after_it_was_listed_is_not_followed(tmp_path, monkeypatch):
    folder = _hand_in(tmp_path, size=10)
    real = os.open

    def swap_then_open(path, flags, *args, **kwargs):
        if path == "big.bin":
            os.unlink(folder / "big.bin")
            os.symlink("/etc/hostname", folder / "big.bin")
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swap_then_open)
    with pytest.raises(exchange.Refused, match="big.bin could not be read"):
        exchange.read_hand_in(str(folder), str(tmp_path / "copy"))


def test_a_plain_hand_in_is_copied_whole_and_its_time_is_its_last_change(tmp_path):
    folder = _hand_in(tmp_path, size=5)
    (folder / "sub").mkdir()
    (folder / "sub" / "a.txt").write_text("a")
    latest = max(p.lstat().st_ctime_ns for p in [folder, *folder.rglob("*")])
    assert exchange.read_hand_in(str(folder), str(tmp_path / "copy")) == latest
    assert (tmp_path / "copy" / "big.bin").read_bytes() == b"xxxxx"
    assert (tmp_path / "copy" / "sub" / "a.txt").read_text() == "a"


def test_a_hand_in_gone_as_collect_reads_it_is_set_aside_not_raised(tmp_path):
    """A student may remove their folder between collect's listing and its reading: refused with why, where
    an error there (nbgrader's owner lookup follows the path) would stop collect for the class."""
    from nbgrader.coursedir import CourseDirectory

    collect = exchange.OwnerCheckedCollect(coursedir=CourseDirectory(assignment_id=ASSIGNMENT))
    gone = tmp_path / f"alice+{ASSIGNMENT}+2026-12-07 00:00:00.000000 UTC+x"
    record = collect._path_to_record(str(gone))
    assert "refused" in record and "FileNotFoundError" in record["refused"], record
