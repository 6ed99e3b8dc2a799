"""The worker: one student's grading, in a process of its own (started by the supervisor).

    python -m autograder.grading.worker --course ROOT --scratch DIR --results DIR --student S A [A ...]

For each assignment, in a scratch course of that student's own (a copy of the gradebook and of
the submission, so that whatever the kernel writes next to itself lands there):

1. the isolated verdict of every test cell (autograder.verdict: the student's functions in a
   sandbox, the tests here), written at once to ``RESULTS/<assignment>.isolated.json`` so that it
   counts even if what follows is stopped;
2. nbgrader's autograde, its kernel sandboxed too (autograder.kernel);
3. the isolated scores recorded over nbgrader's in the scratch gradebook, the verdicts written
   into the autograded notebooks (and those sanitized), nbgrader's feedback;
4. the Outcome, written to ``RESULTS/<assignment>.json``.

Result files are written whole (a temporary name, then a rename): the supervisor reads either
nothing or a complete file. Nothing the student's code runs can reach them: the kernel and the
sandbox see neither the scratch course nor the results folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .. import cells, sandbox, verdict
from .. import kernel as sandboxed_kernel
from ..course import Course, last_error
from ..sandbox import Limits
from . import gradebook
from .options import DEFAULTS, Options
from .outcome import Outcome, Scores, Status
from .report import flags


def grade(
    source: Course,
    scratch: Course,
    student: str,
    assignments: list[str],
    results: Path,
    options: Options = DEFAULTS,
) -> None:
    """Grade one student's assignments in the scratch course as options say (``call_timeout``, ``feedback``); a
    result file per assignment."""
    call_timeout, feedback = options.call_timeout, options.feedback
    isolated = call_timeout is not None
    if not options.unsafe and not sandboxed_kernel.available():
        # The grader checked before starting this worker; here the probe failed (a start that timed out on a
        # loaded machine, a full disk): nothing is graded with the kernel unsandboxed, which --unsafe alone allows.
        why = f"the sandbox could not start in the grading worker ({sandbox.fallback_reason()}): not graded"
        for assignment in assignments:
            outcome = Outcome(student, assignment, Status.FAILED, 0.0, why[:300])
            write_result(results / f"{assignment}.json", outcome.to_json())
        return
    if sandboxed_kernel.available():  # nbgrader's kernels in the sandbox too (see autograder.kernel)
        sandboxed_kernel.configure(scratch.api.config, hidden_tests=not isolated)
    limits = Limits(call_seconds=call_timeout) if isolated else None
    for assignment in assignments:
        start = time.perf_counter()
        verdicts: list[verdict.NotebookVerdict] = []
        scores: Scores = {}
        if isolated:
            submitted = scratch.path("submitted", assignment, student)
            try:
                delimiters = cells.hidden_delimiters(scratch.api.config)  # the course's, as its feedback reads them
                verdicts = verdict.grade_assignment(source.path("source", assignment), submitted, limits, delimiters)
            except Exception as error:  # the grader's own failure on this submission: it scores nothing
                detail = f"the isolated pass failed: {type(error).__name__}: {error}"[:300]
                seconds = time.perf_counter() - start
                write_result(
                    results / f"{assignment}.json",
                    Outcome(student, assignment, Status.FAILED, seconds, detail).to_json(),
                )
                continue
            scores = {Path(v.notebook).stem: {g: c.score for g, c in v.cells.items()} for v in verdicts}
            write_result(results / f"{assignment}.isolated.json", json.dumps(scores))
            # The kernel does not wait again for a hang the isolated pass has seen (SandboxedExecute.skip).
            scratch.api.config.SandboxedExecute.skip = {
                Path(v.notebook).stem: {"cells": v.hung_cells(), "functions": v.hung} for v in verdicts
            }
        status, detail = classify(scratch.api.autograde(assignment, student, force=True, create=True))
        if status == Status.GRADED:
            detail = timed_out_cells(scratch, student, assignment)
        kernel = gradebook.submission_scores(scratch.gradebook, student, assignment)
        if isolated:
            gradebook.record(scratch.gradebook, student, assignment, scores)
        timestamp, late = gradebook.late_penalties(scratch.gradebook, student, assignment, scratch.api.config)
        annotate(scratch, student, assignment, verdicts)
        if feedback and (status in (Status.GRADED, Status.KERNEL_DIED) or isolated):
            if not scratch.api.generate_feedback(assignment, student, force=True).get("success"):
                detail = (detail + "; " if detail else "") + "feedback could not be generated"
        notes = [n for v in verdicts for n in v.notes]
        if notes:
            detail = (detail + "; " if detail else "") + "; ".join(notes)[:500]
        seconds = time.perf_counter() - start
        said = flags(kernel, verdicts) if isolated else []
        outcome = Outcome(student, assignment, status, seconds, detail, kernel, scores, said, timestamp, late)
        write_result(results / f"{assignment}.json", outcome.to_json())


def write_result(path: Path, text: str) -> None:
    """Write a result file whole: under a temporary name, then renamed into place."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


# --------------------------------------------------------------------------- what nbgrader said

#: The last line of a traceback: the exception's (qualified) class name, then its message.
_RAISED = re.compile(r"(?:\w+\.)*(\w+)(?::\s?(.*))?")
#: The first line of a traceback at the start of a log record (nbgrader's "[ERROR] ", or none).
_RECORD_TRACEBACK = re.compile(r"(?:\[[^\]\n]*\] )?Traceback \(most recent call last\):")


def raised(log: str) -> list[tuple[str, str]]:
    """(class name, first line of the message) of each exception whose traceback nbgrader logged.

    Only a traceback that starts a log record counts (its first line begins the line, as
    ``[ERROR] Traceback …`` or a bare ``Traceback …``): nbgrader indents every continuation line
    by four spaces, so no text quoted in a message (a student's cell, previewed by a timeout)
    can start one. A traceback's frames are indented deeper than the line that names its
    exception: that line is the first one after them.
    """
    out, lines = [], log.splitlines()
    for i, line in enumerate(lines[:-1]):
        if not _RECORD_TRACEBACK.fullmatch(line.rstrip()):
            continue
        frames = _indent(lines[i + 1])
        for after in lines[i + 1 :]:
            if after.strip() and _indent(after) < frames:
                match = _RAISED.fullmatch(after.strip())
                if match:
                    out.append((match[1], match[2] or ""))
                break
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def classify(result: dict) -> tuple[Status, str]:
    """The status of an nbgrader autograde result, from the exceptions nbgrader caught, and the detail.

    A dead kernel is nbclient's DeadKernelError (or its RuntimeError "Kernel died before replying"
    when it dies at start); a cell that ran past the timeout and ignored the interrupt is its
    CellTimeoutError. Anything else that failed is said by nbgrader's error line.
    """
    if result.get("success"):
        return Status.GRADED, ""
    log = f"{result.get('log', '')}\n{result.get('error', '')}"
    names = raised(log)
    if any(n == "DeadKernelError" or (n == "RuntimeError" and m.startswith("Kernel died")) for n, m in names):
        return Status.KERNEL_DIED, "the kernel died (os._exit, a crash or out of memory)"
    if any(n == "CellTimeoutError" for n, _ in names):
        detail = "a cell ran past the cell timeout and ignored the interrupt: the notebook could not be graded"
        return Status.TIMED_OUT, detail
    caught = [f"{n}: {m}".rstrip(": ") for n, m in names if n != "NbGraderException"]
    return Status.FAILED, (caught[-1] if caught else last_error(log) or "(no log)")[:300]


def timed_out_cells(scratch: Course, student: str, assignment: str) -> str:
    """Which cells of an autograded submission ran past the cell timeout, in words ("" if none)."""
    import nbformat

    graded, ungraded, not_run = [], 0, 0
    for path in sorted(scratch.path("autograded", assignment, student).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            errors = {o.get("ename") for o in cell.get("outputs", [])}
            if sandboxed_kernel.NOT_RUN in errors:
                not_run += 1
            elif "CellTimeoutError" in errors:
                if cells.is_grade(cell):
                    graded.append(cells.grade_id(cell) or "(one with no grade_id)")
                else:
                    ungraded += 1
    words = []
    if graded:
        words.append(f"test cell {', '.join(graded)} timed out and scored 0")
    if ungraded:
        words.append(f"{ungraded} ungraded cell{'s' * (ungraded > 1)} timed out (no points lost)")
    if not_run:
        words.append(
            f"{not_run} cell{'s' * (not_run > 1)} not run in the kernel, as the code hung there in the isolated check"
        )
    return "; ".join(words)


def annotate(scratch: Course, student: str, assignment: str, verdicts: list[verdict.NotebookVerdict]) -> None:
    """Finish the autograded notebooks, one read and one write each: every test cell's isolated
    verdict written in, for the feedback, and no script or raw HTML of the student's left, for
    formgrader, which shows them to instructors (feedback.SanitizeFeedback).

    Where the kernel died nbgrader wrote no autograded notebook: the submitted one stands in,
    so that the student still gets feedback on every part.
    """
    import nbformat

    from ..feedback import SanitizeFeedback

    folder = scratch.path("autograded", assignment, student)
    for v in verdicts:
        submitted = scratch.path("submitted", assignment, student) / v.notebook
        if not (folder / v.notebook).exists() and submitted.exists():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(submitted, folder / v.notebook)
    judged = {v.notebook: v.cells for v in verdicts}
    functions = {v.notebook: v.functions for v in verdicts}  # the graded ones: the only names the later-cell note shows
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cells.grade_id(cell)
            if gid in judged.get(path.name, {}) and cells.is_grade(cell):
                isolated = asdict(judged[path.name][gid])
                cell.metadata["autograder"] = {"isolated": isolated, "functions": functions.get(path.name, [])}
        nb, _ = SanitizeFeedback().preprocess(nb, {})
        mode = path.stat().st_mode & 0o7777  # nbgrader leaves it read-only (0444): so it stays
        path.chmod(mode | 0o200)  # (as root that goes unnoticed; any other user needs it)
        nbformat.write(nb, path)
        path.chmod(mode)


# --------------------------------------------------------------------------- the process


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m autograder.grading.worker",
        description="Grade one student (started by `python -m autograder grade`, not by people).",
    )
    p.add_argument("assignments", nargs="+")
    p.add_argument("--course", type=Path, required=True, help="the course (its source/ holds the hidden tests)")
    p.add_argument("--scratch", type=Path, required=True, help="the student's scratch course")
    p.add_argument("--results", type=Path, required=True, help="where the result files go")
    p.add_argument("--student", required=True)
    p.add_argument("--options", type=Options.from_json, default=DEFAULTS, help="the run's Options, as JSON (to_json)")
    p.add_argument("--max-processes", type=int, help="RLIMIT_NPROC of the worker and all it starts")
    p.add_argument("--max-memory", type=int, help="RLIMIT_AS of each of its processes, in bytes")
    return p


def limit(processes: int | None, memory: int | None) -> None:
    """Bound this process and all it starts (supervisor.worker_limits says why and how much)."""
    for value, kind in ((processes, resource.RLIMIT_NPROC), (memory, resource.RLIMIT_AS)):
        if value is not None:
            resource.setrlimit(kind, (value, value))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    limit(args.max_processes, args.max_memory)
    grade(Course(args.course), Course(args.scratch), args.student, args.assignments, args.results, args.options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
