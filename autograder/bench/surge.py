"""The ``surge`` section: feedback on submit while a surge of hand-ins is graded (autograder/service.py).

A class of ``students`` (default 10, of the grading section's kinds: perfect, buggy, blank, crashing) hands
in ``assignment`` (default 03_backprop) ``hand_ins`` times each (default 3: twice a buggy version, then the
student's own), at seeded random moments within ``window`` seconds (default 120), into a fresh exchange:
each hand-in is written as nbgrader's ``submit`` writes one (the notebooks, ``timestamp.txt``, a
``submission_secret.txt``), then moved into ``inbound/`` whole. The feedback service runs meanwhile, in
this process, as ``python -m autograder serve`` runs it, with no rate limit (``min_gap`` 0: every hand-in
may be graded as soon as it comes, the heaviest load the service can have). The hand-ins are the bench's
own, so the owner check is off (they are all this user's).

Latency of a hand-in: from its folder's time in inbound/ (its ctime, when the student's Submit finished)
to the release of its answer in the exchange (the service's ``events.jsonl``): for the graded hand-ins,
their feedback; for all, any answer (a hand-in followed by a newer one before it was graded is told so).
Then ``grade``, the batch command, grades the same final submissions on a copy of the course: the time an
instructor's run takes for what the service graded hand-in by hand-in.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..course import EARLIER_SOLUTIONS, Course, fill_answers
from .grading import KINDS, class_work, copy_course, kind_choices, time_grade

#: The issue's target: the 95th percentile of Submit-to-feedback, in seconds, while a surge is graded.
TARGET_P95 = 60.0


@dataclass
class SurgeFigures:
    assignment: str
    students: int
    hand_ins: int
    window: float
    jobs: int
    graded: list[float] = field(default_factory=list)  # seconds from hand-in to its feedback, graded ones
    answered: list[float] = field(default_factory=list)  # seconds from hand-in to any answer, every hand-in
    kinds: dict[str, int] = field(default_factory=dict)  # {answer kind: count}
    gradings: int = 0  # grading runs the service made
    drained: float = 0.0  # seconds from the first hand-in to the last answer
    batch: float = 0.0  # seconds of grade on the same final submissions
    unanswered: int = 0

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _hand_in(course: Course, exchange: Path, course_id: str, student: str, assignment: str, answers) -> None:
    """One hand-in as nbgrader's submit makes it, moved into inbound/ whole."""
    import nbformat

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    name = f"{student}+{assignment}+{stamp}+{secrets.token_urlsafe(6)}"
    staging = Path(tempfile.mkdtemp(dir=exchange / course_id, prefix=".surge-"))
    folder = staging / name
    shutil.copytree(course.path("release", assignment), folder)
    for path in sorted(folder.glob("*.ipynb")):
        source = nbformat.read(course.path("source", assignment) / path.name, as_version=4)
        nbformat.write(fill_answers(source, nbformat.read(path, as_version=4), answers), path)
    (folder / "timestamp.txt").write_text(stamp)
    (folder / "submission_secret.txt").write_text(secrets.token_hex(16))
    os.rename(folder, exchange / course_id / "inbound" / name)
    staging.rmdir()


def measure_surge(
    assignment: str = "03_backprop",
    students: int = 10,
    hand_ins: int = 3,
    window: float = 120.0,
    jobs: int | None = None,
    seed: int = 0,
    step=lambda what: None,
) -> SurgeFigures:
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    from ..grading.options import Options
    from ..service import FeedbackService

    work, kinds = class_work([assignment], students)
    buggy = kind_choices(assignment)["buggy"]
    jobs = jobs or Options().workers
    figures = SurgeFigures(assignment, students, students * hand_ins, window, jobs)
    with tempfile.TemporaryDirectory(prefix="autograder-surge-") as tmp:
        tmp = Path(tmp)
        step(f"surge: a course of {assignment} and an exchange")
        course = Course().scratch(tmp / "course", [assignment], config="\nc.ExchangeCollect.check_owner = False\n")
        exchange = tmp / "exchange"
        exchange.mkdir(mode=0o1777)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
        config.CourseDirectory.root = str(course.root)
        config.Exchange.root = str(exchange)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        # the assignments whose solutions its release gives students are past their due dates, as in a term that
        # released them in order (autograder/exchange.py: OrderedReleaseAssignment releases nothing otherwise)
        with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
            for earlier in EARLIER_SOLUTIONS.get(assignment, {}):
                gb.update_or_create_assignment(earlier, duedate="2020-01-01 00:00:00 UTC")
        result = api.release_assignment(assignment)
        if not result.get("success"):
            raise RuntimeError(f"release_assignment failed: {result.get('error')}")
        course_id = api.coursedir.course_id

        rng = random.Random(seed)
        schedule = sorted(
            (rng.uniform(0, window), student, k) for student in work for k in range(hand_ins)
        )  # (seconds after the start, student, which hand-in)
        index = {student: i for i, student in enumerate(work)}
        seen: dict[str, int] = {}
        plan = []
        for at, student, _ in schedule:  # the last hand-in is the student's own work, the ones before buggy
            k = seen[student] = seen.get(student, -1) + 1
            answers = work[student][assignment] if k == hand_ins - 1 else buggy[(index[student] + k) % len(buggy)]
            plan.append((at, student, answers))

        service = FeedbackService(course, exchange, min_gap=0, poll=1.0, jobs=jobs)
        runs = []
        original = service._grade

        def counted(a, those):
            runs.append(len(those))
            return original(a, those)

        service._grade = counted
        thread = threading.Thread(target=service.serve, daemon=True)
        step(f"surge: {len(plan)} hand-ins from {students} students within {window:g} s, the service grading")
        start = time.monotonic()
        thread.start()
        for at, student, answers in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            _hand_in(course, exchange, course_id, student, assignment, answers)
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            answered = {e["hand_in"] for e in service.state_events()}
            if len(answered) >= len(plan):
                break
            time.sleep(0.5)
        service.stop.set()
        thread.join(timeout=1800)
        events = service.state_events()
        figures.unanswered = len(plan) - len({e["hand_in"] for e in events})
        first = {}
        for e in events:  # a hand-in's first answer (a queued one may be graded later: both count, apart)
            first.setdefault(e["hand_in"], e)
            figures.kinds[e["kind"]] = figures.kinds.get(e["kind"], 0) + 1
            if e["kind"] == "graded":
                figures.graded.append(e["answered"] - e["handed_in"])
        figures.answered = [e["answered"] - e["handed_in"] for e in first.values()]
        if events:
            figures.drained = max(e["answered"] for e in events) - min(e["handed_in"] for e in events)
        figures.gradings = len(runs)

        step(f"surge: grade (batch) on the same {students} final submissions")
        copy = copy_course(course, tmp / "batch")
        figures.batch = time_grade(copy, [assignment], jobs, True).seconds
    return figures


#: The surge section's figure lines, in order (report.FIGURES["surge"]).
LINES = ["surge", "surge, Submit to feedback", "surge, Submit to any answer", "surge, batch grade"]


def surge_lines(s: SurgeFigures, line) -> tuple[list[str], dict[str, tuple[bool, str]]]:
    """The surge section's lines (each made by line(key, text)) and its target."""
    p50, p95 = s.pct(s.graded, 0.5), s.pct(s.graded, 0.95)
    a50, a95 = s.pct(s.answered, 0.5), s.pct(s.answered, 0.95)
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(s.kinds.items()))
    texts = [
        f"{s.hand_ins} hand-ins of {s.assignment} from {s.students} students ({', '.join(KINDS)}) within "
        f"{s.window:g} s; the service with no rate limit, {s.jobs} students graded at once",
        f"p50 {p50:.1f} s, p95 {p95:.1f} s, max {max(s.graded, default=float('nan')):.1f} s "
        f"({len(s.graded)} graded hand-ins, {s.gradings} grading runs)",
        f"p50 {a50:.1f} s, p95 {a95:.1f} s, every hand-in's first answer ({kinds}; {s.unanswered} unanswered)",
        f"{s.batch:.1f} s for the same {s.students} final submissions (the service: all answered "
        f"{s.drained:.0f} s after the first hand-in)",
    ]
    ok = p95 <= TARGET_P95 and s.unanswered == 0
    return [line(k, t) for k, t in zip(LINES, texts, strict=True)], {"surge_p95": (ok, f"{p95:.1f} s")}


__all__ = ["LINES", "SurgeFigures", "TARGET_P95", "measure_surge", "surge_lines"]
