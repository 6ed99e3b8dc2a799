"""Feedback on submit: a service that grades each new hand-in and returns its feedback to the student.

    python -m autograder serve --course COURSE --exchange EXCHANGE_ROOT [--min-gap SECONDS]

It watches the exchange's ``inbound/`` (every ``poll`` seconds). For a student's new hand-in of an
assignment it runs what an instructor runs by hand, for that student only: nbgrader's ``collect`` (the
course's: the owner check, no link followed, the machine's time; autograder/exchange.py), ``grade``
(the same sandboxed pipeline, the same gradebook: autograder.grading) and nbgrader's
``release_feedback``; the student's Assignment List then offers "Fetch Feedback". The grade of record is
what ``grade`` computes on the student's latest hand-in, as in a batch run: the two never disagree.

Every hand-in gets an answer in the student's Assignment List, in words, as a feedback page of its own
(nbgrader finds a hand-in's feedback by its ``submission_secret.txt``):

* graded: its feedback (the named bug, the scores);
* queued (the rate limit): one hand-in of an assignment per student is graded every ``min_gap`` seconds
  (MIN_GAP by default); a hand-in that comes sooner is told when it will be graded, and is, then, if it
  is still that student's latest;
* superseded: a hand-in followed by a newer one before it was graded is told that the newer one is graded
  instead (the grade of record is the latest hand-in's, as nbgrader's).

State (``COURSE/feedback_service/state.json``, replaced whole, never half-written): the hand-in each
student's assignment was last graded on, and when. A hand-in made while the service was down is graded
when it starts; a service killed mid-grade (``kill -9``) grades that hand-in again when it starts, which
changes nothing twice: the gradebook keeps one submission per student and assignment, set to the latest
grading. ``events.jsonl`` beside it says, for each answer, when the hand-in came and when its answer was
released (``bench`` reads the latencies there).

One grading run of a course at a time (``grading.gradebook.exclusive``): a batch ``grade`` or formgrader's
Autograde started meanwhile waits for the service's run, and the service for theirs.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import signal
import stat
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .course import Course, plain_student

log = logging.getLogger(__name__)

#: Seconds between two graded hand-ins of one student's assignment. Feedback that names the bug helps most
#: when a student reads it and thinks before trying again; unlimited grading invites resubmitting small
#: changes until the score moves (courses that rate-limit their autograders report fewer, better
#: submissions). Three minutes is long enough to read a page of feedback, short enough that a student who
#: fixed the bug is not kept waiting. --min-gap changes it (0: no limit).
MIN_GAP = 180.0
#: Seconds between two looks at the exchange.
POLL = 2.0
#: Superseded hand-ins of one student's assignment answered per look (a student who hands in a thousand
#: times gets the latest graded, and a page for the last few).
MAX_SUPERSEDED = 10
#: Marks a page this service wrote (never over a graded hand-in's feedback).
MARK = "<!-- autograder feedback service: not graded -->"


@dataclass(frozen=True)
class HandIn:
    """One folder of the exchange's inbound/: <student>+<assignment>+<time>+<random>."""

    name: str
    student: str
    assignment: str
    ctime: float  # when it was made, by the machine's clock (its folder's ctime)


class State:
    """What was graded and when, in COURSE/feedback_service/state.json."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / "state.json"
        self.graded: dict[str, dict] = {}  # "student/assignment": {"hand_in": name, "at": epoch seconds}
        self.answered: dict[str, str] = {}  # hand-in name: what it was told ("queued:<at>", "superseded")
        if self.path.exists():
            data = json.loads(self.path.read_text())
            self.graded, self.answered = data.get("graded", {}), data.get("answered", {})

    def save(self) -> None:
        self.folder.mkdir(exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"graded": self.graded, "answered": self.answered}, indent=1))
        os.replace(tmp, self.path)  # whole or not at all, whenever the service is killed

    def event(self, **fields) -> None:
        self.folder.mkdir(exist_ok=True)
        with open(self.folder / "events.jsonl", "a") as fh:
            fh.write(json.dumps(fields) + "\n")


class FeedbackService:
    """Grades new hand-ins of the exchange as they come (see the module)."""

    def __init__(self, course: Course, exchange: Path, min_gap: float = MIN_GAP, poll: float = POLL, jobs=None):
        self.course, self.exchange = course, Path(exchange)
        self.min_gap, self.poll, self.jobs = min_gap, poll, jobs
        self.state = State(course.root / "feedback_service")
        self.stop = threading.Event()
        self.api = self._api()
        self.course_id = self.api.coursedir.course_id
        self.inbound = self.exchange / self.course_id / "inbound"
        # collect's owner check (c.ExchangeCollect.check_owner), applied to what is graded too
        self.check_owner = bool(self.api.config.ExchangeCollect.get("check_owner", True))
        self.outbound_feedback = self.exchange / self.course_id / "feedback"
        self._wrong_exchange = ""  # what exchange_is_ours said last

    def _api(self):
        """nbgrader's API with the course's configuration and this exchange."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.course.root)).load_config()
        config.CourseDirectory.root = str(self.course.root)
        config.Exchange.root = str(self.exchange)
        return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)

    # ------------------------------------------------------------------------------------------ the loop

    def serve(self) -> None:
        """Look at the exchange every poll seconds until stop is set (SIGTERM, SIGINT)."""
        said = "feedback service: %s, exchange %s, one graded hand-in per %g s"
        log.info(said, self.course.root, self.inbound, self.min_gap)
        while not self.stop.is_set():
            try:
                self.once()
            except Exception:  # one bad look stops nothing: said, and the next look comes
                log.exception("feedback service: this look at the exchange failed")
            self.stop.wait(self.poll)

    def once(self, now: float | None = None) -> list[tuple[str, str]]:
        """One look: answer every new hand-in, grade those the rate limit lets through. The (student,
        assignment) graded."""
        if not self.exchange_is_ours():
            return []
        hand_ins = self.scan()
        latest: dict[tuple[str, str], HandIn] = {}
        for h in sorted(hand_ins, key=lambda h: h.ctime):
            latest[h.student, h.assignment] = h
        now = time.time() if now is None else now
        due: dict[str, list[HandIn]] = {}
        for (student, assignment), h in latest.items():
            last = self.state.graded.get(f"{student}/{assignment}")
            if last and last["hand_in"] == h.name:
                continue
            self._answer_superseded(hand_ins, h, last)
            at = last["at"] + self.min_gap if last else now
            if at <= now:
                due.setdefault(assignment, []).append(h)
            elif self.state.answered.get(h.name) != f"queued:{at:.0f}":
                self._message(h, queued_page(h, last, at))
                self.state.answered[h.name] = f"queued:{at:.0f}"
                self._event("queued", h)
                self.state.save()
        graded = []
        for assignment, those in sorted(due.items()):
            graded += self._grade(assignment, those)
        return graded

    def exchange_is_ours(self) -> bool:
        """Whether the course's folder in the exchange, its inbound/ and its feedback/ are real folders of this
        service's user (as release_assignment makes them), said once when they stop being so. In an exchange
        everyone may write, a student who made the course's folder (or a link of that name) before the first
        release receives every hand-in: nothing is collected from it, and no page is written into it."""
        wrong = []
        for folder in (self.exchange / self.course_id, self.inbound, self.outbound_feedback):
            try:
                info = os.lstat(folder)
            except FileNotFoundError:
                continue  # not made yet (release_assignment makes them; the first page makes feedback/)
            except OSError as error:
                wrong.append(f"{folder}: {error.strerror}")
                continue
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                kind = (
                    "a link" if stat.S_ISLNK(info.st_mode) else "not a folder" if not stat.S_ISDIR(info.st_mode) else ""
                )
                wrong.append(f"{folder} is {kind or 'a folder'} of uid {info.st_uid}, not of uid {os.geteuid()}")
        said = "; ".join(wrong)
        if said and said != self._wrong_exchange:
            log.error(
                "feedback service: not grading: %s (someone made it before the course did: look, remove it)", said
            )
        self._wrong_exchange = said
        return not wrong

    def scan(self) -> list[HandIn]:
        """The hand-ins of the course's assignments in inbound/ that their student made (the owner check
        of collect: a folder in someone else's name neither is graded nor spends their rate limit)."""
        from .exchange import owner

        assignments = set(self.course.assignments())
        out = []
        try:
            names = os.listdir(self.inbound)
        except FileNotFoundError:
            return []
        for name in names:
            for assignment in assignments:
                student, sep, _ = name.partition(f"+{assignment}+")
                if sep and plain_student(student):
                    break
            else:
                continue
            path = self.inbound / name
            try:
                info = os.lstat(path)
                if not stat.S_ISDIR(info.st_mode) or (self.check_owner and owner(str(path)) != student):
                    continue
            except (OSError, KeyError):
                continue
            out.append(HandIn(name, student, assignment, info.st_ctime))
        return out

    def state_events(self) -> list[dict]:
        """Every answer so far (events.jsonl), oldest first."""
        path = self.state.folder / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    # ------------------------------------------------------------------------------------------ grading

    def _grade(self, assignment: str, hand_ins: list[HandIn]) -> list[tuple[str, str]]:
        """Collect, grade and release the feedback of these students' latest hand-ins of assignment."""
        from nbgrader.utils import temp_attrs

        from . import grading

        students, set_aside = [], set()
        for h in hand_ins:
            with temp_attrs(self.api.coursedir, student_id=h.student):
                result = self.api.collect(assignment)
            if not result.get("success"):
                log.error("collect %s %s failed: %s", h.student, assignment, result.get("error", "")[-2000:])
            collected = self.course.path("submitted", assignment, h.student)
            if not any(collected.glob("*.ipynb")):  # nothing to grade: set aside, or no notebook in it
                self._message(h, refused_page(h))
                self._done(h, "refused")
                continue
            if read_secret(collected) != read_secret(self.inbound / h.name):
                # collect set this hand-in aside (collect's error says why) and took an older one of the student's
                self._message(h, refused_page(h))
                last = self.state.graded.get(f"{h.student}/{assignment}")
                if last and read_secret(self.inbound / last["hand_in"]) == read_secret(collected):
                    self._done(h, "refused")  # the older one is what was graded last: nothing new to grade
                    continue
                set_aside.add(h.student)  # the older one was never graded: graded now, as a batch grade would
            students.append(h.student)
        if not students:
            return []
        options = grading.Options(
            assignments=(assignment,),
            students=tuple(students),
            backup=False,
            check=False,
            jobs=self.jobs,
            class_report=False,  # the whole class's, read again for each hand-in: `grade` writes it
        )
        try:
            report = grading.grade(self.course, options)
        except Exception as error:  # the grader's own failure: these hand-ins are answered, the service goes on
            log.exception("grading %s of %s failed", assignment, ", ".join(students))
            for h in hand_ins:
                if h.student in students:
                    self._message(h, failed_page(h, f"{type(error).__name__}: {error}"[:200]))
                    self._done(h, "failed")
            return []
        log.info("graded %s of %s in %.0f s", assignment, ", ".join(students), report.seconds)
        outcomes = {o.student: o for o in report.outcomes}
        graded = []
        for h in hand_ins:
            if h.student not in students:
                continue
            o = outcomes.get(h.student)
            with temp_attrs(self.api.coursedir, student_id=h.student), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # nbgrader 0.9's api passes "authentictor"
                result = self.api.release_feedback(assignment, student_id=h.student)  # this student's only
            released = result.get("success") and self.course.path("feedback", assignment, h.student).is_dir()
            if not released:
                why = o.detail if o else "not graded"
                log.error("no feedback released for %s %s: %s", h.student, assignment, why)
                if h.student not in set_aside:
                    self._message(h, failed_page(h, o.status if o and o.status != "graded" else "no feedback"))
            self._done(h, "refused" if h.student in set_aside else "graded" if released else "failed")
            graded.append((h.student, assignment))
        return graded

    def _done(self, h: HandIn, kind: str) -> None:
        self.state.graded[f"{h.student}/{h.assignment}"] = {"hand_in": h.name, "at": time.time()}
        self.state.answered[h.name] = kind
        self._event(kind, h)
        self.state.save()

    # ------------------------------------------------------------------------------------ the answers

    def _answer_superseded(self, hand_ins: list[HandIn], latest: HandIn, last: dict | None) -> None:
        """A page for each hand-in of latest's student and assignment older than latest that was neither
        graded nor answered yet (at most MAX_SUPERSEDED, the newest)."""
        older = [
            h
            for h in hand_ins
            if (h.student, h.assignment) == (latest.student, latest.assignment)
            and h.ctime < latest.ctime
            and h.name != (last or {}).get("hand_in")
            and h.name not in self.state.answered
        ]
        for h in sorted(older, key=lambda h: h.ctime)[-MAX_SUPERSEDED:]:
            self._message(h, superseded_page(h, latest))
            self.state.answered[h.name] = "superseded"
            self._event("superseded", h)
        if older:
            self.state.save()

    def _event(self, kind: str, h: HandIn) -> None:
        when = {"handed_in": h.ctime, "answered": time.time()}
        self.state.event(kind=kind, student=h.student, assignment=h.assignment, hand_in=h.name, **when)

    def _message(self, h: HandIn, page: str) -> None:
        """page as the feedback of hand-in h, for each notebook of its assignment, unless that hand-in has
        feedback of a grading already."""
        from nbgrader.utils import notebook_hash

        secret = read_secret(self.inbound / h.name)
        if secret is None:
            log.warning("%s has no readable submission_secret.txt: no page for it", h.name)
            return
        self.outbound_feedback.mkdir(mode=0o711, exist_ok=True)
        for nb in sorted(self.course.path("release", h.assignment).glob("*.ipynb")):
            dest = self.outbound_feedback / f"{notebook_hash(secret=secret, notebook_id=nb.stem)}.html"
            with contextlib.suppress(FileNotFoundError), open(dest, "rb") as fh:
                if MARK.encode() not in fh.read(4096):
                    continue  # feedback of a grading: never replaced by a message
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as fh:
                fh.write(page)
            os.chmod(tmp, 0o644)  # whatever the umask: the student's fetch_feedback reads it
            os.replace(tmp, dest)


def read_secret(folder: Path) -> str | None:
    """The hand-in's submission_secret.txt (at most 1 KB, no link followed), or None."""
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fd = os.open("submission_secret.txt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            text = os.read(fd, 1024).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    return text or None


# -------------------------------------------------------------------------------------------- the pages


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S (%Z, %Y-%m-%d)")


def page(h: HandIn, title: str, *paragraphs: str) -> str:
    """A feedback page of words only: no script, nothing loaded, readable offline."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{MARK}<title>{html.escape(h.assignment)}: '
        f"{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;"
        f"line-height:1.5;padding:0 1em}}</style></head><body><h1>{html.escape(h.assignment)}: {html.escape(title)}"
        f"</h1>{body}</body></html>\n"
    )


def queued_page(h: HandIn, last: dict | None, at: float) -> str:
    gap = round((at - last["at"]) / 60, 1) if last else 0
    return page(
        h,
        "not graded yet",
        f"Your hand-in of {_when(h.ctime)} is in the queue. This course grades one hand-in of each assignment "
        f"per student every {gap:g} minutes, and your previous one was graded at {_when(last['at'])}.",
        f"It will be graded at about {_when(at)}, if it is still your latest hand-in then (the grade that counts "
        "is your latest hand-in's). Meanwhile, read the feedback of your previous hand-in, and run the "
        "notebook's tests (or Validate) yourself.",
        "Then click Fetch Feedback again.",
    )


def superseded_page(h: HandIn, latest: HandIn) -> str:
    return page(
        h,
        "not graded (a newer hand-in came)",
        f"Your hand-in of {_when(h.ctime)} was followed by your hand-in of {_when(latest.ctime)} before it was "
        "graded. Only your latest hand-in is graded (it is the one that counts): its feedback is under that "
        "hand-in.",
    )


def refused_page(h: HandIn) -> str:
    return page(
        h,
        "not collected",
        f"Your hand-in of {_when(h.ctime)} could not be collected: it holds no notebook, or something other than "
        "plain files and folders (a link, say), or more than a hand-in may hold. Hand in your assignment folder "
        "as nbgrader's Submit makes it, and ask your instructor if this message stays.",
    )


def failed_page(h: HandIn, status: str) -> str:
    return page(
        h,
        "could not be graded",
        f"Your hand-in of {_when(h.ctime)} could not be graded ({status}). Run your notebook from the top "
        "(Restart and Run All) and check that every cell finishes; your instructor sees this too.",
    )


def main(course: Course, exchange: Path, min_gap: float, poll: float, jobs: int | None) -> int:
    """The service, until SIGTERM or SIGINT (it finishes the grading under way first)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    service = FeedbackService(course, exchange, min_gap=min_gap, poll=poll, jobs=jobs)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop.set())
    service.serve()
    return 0
