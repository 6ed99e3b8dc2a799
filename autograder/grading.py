"""Grade a class with nbgrader: check the course, back up the gradebook, autograde every
submission in parallel, write feedback, export a CSV and summarize.

Everything that touches notebooks or the gradebook is nbgrader's own code (its Python API,
``NbGraderAPI``, and its ``CsvExportPlugin``); this module only orders the steps, runs
students side by side, contains each student's failures, and reports.

Parallelism: nbgrader grades one submission at a time (its issue #174). Here each student
is graded by a worker process of its own (``python -m autograder.grading --worker``), at
most ``jobs`` at once, all writing to the same SQLite gradebook (nbgrader opens it briefly
per step; the workers wait up to 60 s for its lock). A worker that outlives its time
budget is killed with its whole process group, kernels included, and its remaining
assignments are recorded as "timed out": one student's infinite loop never stops the
others.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import course

#: What one (student, assignment) grading ended as.
GRADED, TIMED_OUT, KERNEL_DIED, FAILED, NOT_SUBMITTED = "graded", "timed out", "kernel died", "failed", "not submitted"


@dataclass
class Outcome:
    """How grading one student's assignment went."""

    student: str
    assignment: str
    status: str
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Report:
    """A grading run: outcomes, where things were written, and the timing."""

    outcomes: list[Outcome] = field(default_factory=list)
    backup: Path | None = None
    csv: Path | None = None
    seconds: float = 0.0
    jobs: int = 1


class CourseError(RuntimeError):
    """The course is not in a state to grade; the message says what to run."""


# --------------------------------------------------------------------------- consistency


def stale_releases(root: Path, assignments: list[str]) -> list[str]:
    """Differences between release/ and what generate_assignment makes from source/ now."""
    import shutil
    import tempfile

    import nbformat

    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        shutil.copy(root / "nbgrader_config.py", scratch)
        for a in assignments:
            shutil.copytree(root / "source" / a, scratch / "source" / a)
        course.release(assignments, scratch)
        for assignment in assignments:
            fresh, committed = scratch / "release" / assignment, root / "release" / assignment
            names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
            names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
            for rel in sorted(names):
                a, b = fresh / rel, committed / rel
                if not a.exists() or not b.exists():
                    problems.append(f"release/{assignment}/{rel} is {'extra' if b.exists() else 'missing'}")
                elif rel.suffix == ".ipynb":
                    if _cells(nbformat.read(a, as_version=4)) != _cells(nbformat.read(b, as_version=4)):
                        problems.append(f"release/{assignment}/{rel} differs from its source")
                elif a.read_bytes() != b.read_bytes():
                    problems.append(f"release/{assignment}/{rel} differs from its source")
    return problems


def _cells(nb) -> list[dict]:
    """What matters of each cell for equality: type, source and nbgrader metadata (checksum included)."""
    return [{"type": c.cell_type, "source": c.source, "nbgrader": c.metadata.get("nbgrader")} for c in nb.cells]


def check_course(root: Path, assignments: list[str]) -> None:
    """Raise CourseError unless every assignment has a source and an up-to-date release."""
    known = course.source_assignments(root)
    problems = [f"source/{a} holds no notebook (known: {', '.join(known)})" for a in assignments if a not in known]
    problems += stale_releases(root, [a for a in assignments if a in known])
    if problems:
        raise CourseError(
            "the course is not consistent:\n  "
            + "\n  ".join(problems)
            + "\nrun `python -m autograder release` (and commit release/), then grade again"
        )


# --------------------------------------------------------------------------- the gradebook


def gradebook_path(root: Path) -> Path:
    return root / "gradebook.db"


def backup_gradebook(root: Path) -> Path | None:
    """Copy gradebook.db to backups/gradebook-<UTC time>.db with SQLite's online backup; None if none yet."""
    db = gradebook_path(root)
    if not db.exists():
        return None
    folder = root / "backups"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = folder / f"gradebook-{stamp}.db"
    with sqlite3.connect(db) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    return dest


def restore_gradebook(root: Path, backup: Path) -> Path:
    """Put a backup back in place (the current gradebook is backed up first)."""
    backup = Path(backup)
    if not backup.is_file():
        raise CourseError(f"no backup at {backup}; backups are in {root / 'backups'}")
    backup_gradebook(root)
    with sqlite3.connect(backup) as src, sqlite3.connect(gradebook_path(root)) as dst:
        src.backup(dst)
    return gradebook_path(root)


def submitted(root: Path, assignments: list[str]) -> dict[str, list[str]]:
    """{student: [assignments they submitted]}, from submitted/<student>/<assignment>/."""
    out: dict[str, list[str]] = {}
    folder = root / "submitted"
    for student in sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        have = [a for a in assignments if any((folder / student / a).glob("*.ipynb"))]
        if have:
            out[student] = have
    return out


# --------------------------------------------------------------------------- the workers


def _classify(result: dict) -> tuple[str, str]:
    log = f"{result.get('log', '')}\n{result.get('error', '')}"
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        return KERNEL_DIED, "the kernel died (os._exit, a crash or out of memory): no part could be graded"
    if not result.get("success") and ("CellTimeoutError" in log or "timed out" in log):
        return TIMED_OUT, "a cell ran past the cell timeout and ignored the interrupt: the notebook could not be graded"
    if not result.get("success"):
        last = [line for line in log.strip().splitlines() if line.strip()][-1:] or ["(no log)"]
        return FAILED, last[0][:300]
    return GRADED, ""


def _timed_out_cells(root: Path, student: str, assignment: str) -> str:
    """Which cells of an autograded submission ran past the cell timeout, in words ("" if none)."""
    import nbformat

    graded, ungraded = [], 0
    for path in sorted((root / "autograded" / student / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade"):
                    graded.append(meta["grade_id"])
                else:
                    ungraded += 1
    words = []
    if graded:
        words.append(f"test cell {', '.join(graded)} timed out and scored 0")
    if ungraded:
        words.append(f"{ungraded} ungraded cell{'s' * (ungraded > 1)} timed out (no points lost)")
    return "; ".join(words)


def _worker(root: Path, student: str, assignments: list[str], feedback: bool) -> None:
    """Grade one student's assignments in this process; one JSON line per assignment on stdout."""
    api = course.nbgrader_api(root)
    api.coursedir.db_url = f"sqlite:///{gradebook_path(root)}?timeout=60"
    for assignment in assignments:
        start = time.perf_counter()
        status, detail = _classify(api.autograde(assignment, student, force=True, create=True))
        if status == GRADED:
            detail = _timed_out_cells(root, student, assignment)
        if feedback and status in (GRADED, KERNEL_DIED):
            fb = api.generate_feedback(assignment, student, force=True)
            if not fb.get("success"):
                detail = (detail + "; " if detail else "") + "feedback could not be generated"
        outcome = Outcome(student, assignment, status, time.perf_counter() - start, detail)
        print(json.dumps(asdict(outcome)), flush=True)


def _grade_student(
    root: Path, student: str, assignments: list[str], feedback: bool, timeout: float, threads: int | None = None
) -> list[Outcome]:
    """Run one worker; whatever happens to it, return an Outcome for each assignment.

    threads: BLAS/OpenMP threads of the worker and its kernels (one per worker when students run
    side by side, so that they share the cores instead of fighting over them).
    """
    env = dict(os.environ)
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    cmd = [sys.executable, "-m", "autograder.grading", "--worker", str(root), student, *assignments]
    if not feedback:
        cmd.append("--no-feedback")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and every kernel it started
        out, err = proc.communicate()
        killed = True
    done = {}
    for line in out.splitlines():
        if line.startswith("{"):
            o = Outcome(**json.loads(line))
            done[o.assignment] = o
    outcomes = []
    for a in assignments:
        if a in done:
            outcomes.append(done[a])
        elif killed:
            outcomes.append(
                Outcome(student, a, TIMED_OUT, time.perf_counter() - start, f"grading stopped after {timeout:.0f} s")
            )
        else:
            tail = (err.strip().splitlines() or ["(no output)"])[-1][:300]
            outcomes.append(Outcome(student, a, FAILED, time.perf_counter() - start, tail))
    return outcomes


# --------------------------------------------------------------------------- the whole class


def grade(
    root: Path = course.COURSE_ROOT,
    assignments: list[str] | None = None,
    jobs: int | None = None,
    feedback: bool = True,
    csv: Path | None = None,
    timeout: float = 1800.0,
    check: bool = True,
) -> Report:
    """Grade every submission of the given assignments (default: all) and export the grades.

    jobs: students graded at once (default: the machine's cores).
    timeout: seconds one student's grading may take in all before it is stopped.
    """
    root = Path(root).resolve()
    assignments = assignments or course.source_assignments(root)
    if check:
        check_course(root, assignments)
    start = time.perf_counter()
    course.release(assignments, root)  # puts the current hidden tests in the gradebook (release/ is unchanged)
    report = Report(backup=backup_gradebook(root), jobs=jobs or os.cpu_count() or 1)
    students = submitted(root, assignments)
    with ThreadPoolExecutor(max_workers=report.jobs) as pool:
        threads = max(1, (os.cpu_count() or 1) // report.jobs)
        futures = [pool.submit(_grade_student, root, s, a, feedback, timeout, threads) for s, a in students.items()]
        for future in futures:
            report.outcomes.extend(future.result())
    report.csv = export_csv(root, csv or root / "grades.csv")
    report.seconds = time.perf_counter() - start
    return report


def export_csv(root: Path, path: Path) -> Path:
    """nbgrader's own CSV export of the whole gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    with Gradebook(f"sqlite:///{gradebook_path(root)}") as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return Path(path)


def scores(root: Path, assignments: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """{(student, assignment): {grade_id: score}} from the gradebook, for every graded test cell."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{gradebook_path(root)}") as gb:
        for student in gb.students:
            for a in assignments:
                try:
                    sub = gb.find_submission(a, student.id)
                except MissingEntry:
                    continue
                out[student.id, a] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


def summary(root: Path, report: Report, assignments: list[str]) -> str:
    """A table: one row per student, one column per assignment (score/max and status), and a total."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook_path(root)}") as gb:
        maxima = {a: gb.find_assignment(a).max_score for a in assignments}
    per = scores(root, assignments)
    status = {(o.student, o.assignment): o for o in report.outcomes}
    students = sorted({s for s, _ in per} | {o.student for o in report.outcomes})
    head = ["student"] + [a.split("_", 1)[0] for a in assignments] + ["total"]
    rows = []
    notes = []
    for s in students:
        row, total = [s], 0.0
        for a in assignments:
            o = status.get((s, a))
            if (s, a) not in per or (o and o.status == NOT_SUBMITTED):
                row.append("-")
                continue
            got = sum(v or 0.0 for v in per[s, a].values())
            total += got
            mark = "" if not o or o.status == GRADED and not o.detail else " !"
            row.append(f"{got:g}/{maxima[a]:g}{mark}")
            if o and (o.status != GRADED or o.detail):
                notes.append(f"  {s} / {a}: {o.status}{': ' + o.detail if o.detail else ''}")
        row.append(f"{total:g}/{sum(maxima.values()):g}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head, *rows]]
    if notes:
        lines += ["", "! needs a look:", *notes]
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    """Entry point of a worker process (not for people: use ``python -m autograder grade``)."""
    if not argv or argv[0] != "--worker":
        print("this module is run by `python -m autograder grade`; see --help there", file=sys.stderr)
        return 2
    feedback = "--no-feedback" not in argv
    args = [a for a in argv[1:] if a != "--no-feedback"]
    _worker(Path(args[0]), args[1], args[2:], feedback)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
