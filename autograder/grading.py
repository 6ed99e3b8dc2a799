"""Grade a class with nbgrader: check the course, back up the gradebook, autograde every
submission in parallel, write feedback, export a CSV and summarize.

Everything that touches notebooks or the gradebook is nbgrader's own code (its Python API,
``NbGraderAPI``, and its ``CsvExportPlugin``); this module only orders the steps, runs
students side by side, contains each student's failures, and reports.

Parallelism: nbgrader grades one submission at a time (its issue #174). Here each student
is graded by a worker process of its own (``python -m autograder.grading --worker``), at
most ``jobs`` at once. A worker that outlives its time budget is killed with its whole
process group, kernels included, and its remaining assignments are recorded as "timed
out": one student's infinite loop never stops the others.

Trust: nbgrader runs the tests inside the student's kernel, where the student's code can
fake them (``autograder.verdict``). So, for each assignment, the worker first computes the
*isolated* verdict of every test cell (student code in a sandbox, tests here), then lets
nbgrader autograde in a scratch course of that student's own (a copy of the gradebook and
of the submission: whatever the kernel writes next to itself lands there), and records the
isolated scores over nbgrader's. The real gradebook is written only by this process: the
grades are collected in a private copy and put in place once, at the end of the run.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import cgroup, course, sandbox, verdict
from . import kernel as sandboxed_kernel
from .sandbox import Limits, tasks_of_user

#: Bounds of one student's grading worker with its kernels and sandboxes (see autograder.cgroup).
WORKER_PROCESSES, WORKER_MEMORY = 512, 8 * 2**30

#: What one (student, assignment) grading ended as.
GRADED, TIMED_OUT, KERNEL_DIED, FAILED, NOT_SUBMITTED = "graded", "timed out", "kernel died", "failed", "not submitted"
#: The grader itself failed on one student (after or around its worker): that student only.
GRADING_ERROR = "grading error"


@dataclass
class Outcome:
    """How grading one student's assignment went."""

    student: str
    assignment: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    kernel: dict[str, dict[str, float | None]] = field(default_factory=dict)  # {notebook: {cell: in-kernel score}}
    isolated: dict[str, dict[str, float]] = field(default_factory=dict)  # {notebook: {cell: isolated score}}
    flags: list[str] = field(default_factory=list)  # disagreements worth an instructor's look


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
    import nbformat

    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = course.scratch_course(Path(tmp), assignments, root)
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
        return KERNEL_DIED, "the kernel died (os._exit, a crash or out of memory)"
    if not result.get("success") and ("CellTimeoutError" in log or "timed out" in log):
        return TIMED_OUT, "a cell ran past the cell timeout and ignored the interrupt: the notebook could not be graded"
    if not result.get("success"):
        return FAILED, course.last_error(log) or "(no log)"
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


def gradebook_scores(db: Path, student: str, assignment: str) -> dict[str, dict[str, float | None]]:
    """{notebook: {test cell: auto_score}} of one submission in a gradebook ({} if it has none)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db}") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {nb.name: {g.name: g.auto_score for g in nb.grades} for nb in sub.notebooks}


def record_scores(db: Path, student: str, assignment: str, scores: dict[str, dict[str, float]]) -> None:
    """Set the auto_score of the listed test cells, creating the submission if needed.

    Manual scores and comments are untouched (nbgrader shows manual_score over auto_score).
    """
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(f"sqlite:///{db}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission autoflushes half-made rows
        gb.update_or_create_student(student)
        sub = gb.update_or_create_submission(assignment, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.name in scores.get(nb.name, {}):
                    grade.auto_score = scores[nb.name][grade.name]
        gb.db.commit()


def _flags(kernel: dict, verdicts: list[verdict.NotebookVerdict]) -> list[str]:
    """Where nbgrader's in-kernel score and the isolated one disagree, in words.

    The kernel runs the visible tests only (autograder.kernel), so a part the isolated pass failed
    on a hidden line says nothing when the kernel passed it; one it failed on a visible line, which
    the kernel passed, does: the same asserts on the same code gave two answers.
    """
    faked, aliased, lost = [], [], []
    for v in verdicts:
        mine = kernel.get(Path(v.notebook).stem, {})
        for gid, cell in v.cells.items():
            k = mine.get(gid) or 0.0
            if k > cell.score + 1e-9:
                if cell.hidden:
                    continue  # the kernel ran the visible tests only (autograder.kernel): nothing to compare
                # A library's function under the student's name (tanh = np.tanh) is a plain mistake
                # that the isolated pass refuses, not tampering.
                (aliased if "NotYours:" in cell.message else faked).append(gid)
            elif k < cell.score - 1e-9:
                lost.append(gid)
    out = []
    if faked:
        out.append(f"in-kernel tests passed, isolated check failed: possible tampering ({', '.join(faked)})")
    if aliased:
        out.append(
            f"a function is a library's under the student's name ({', '.join(aliased)}): "
            "the isolated pass refuses it, its score is recorded"
        )
    if lost:
        out.append(
            f"isolated check passed where the in-kernel test did not ({', '.join(lost)}: output on stderr, "
            "a timeout or a dead kernel): the isolated score is recorded"
        )
    return out


def _annotate(scratch: Path, student: str, assignment: str, verdicts: list[verdict.NotebookVerdict]) -> None:
    """Finish the autograded notebooks, one read and one write each: every test cell's isolated
    verdict written in, for the feedback, and no script or raw HTML of the student's left, for
    formgrader, which shows them to instructors (feedback.SanitizeFeedback).

    Where the kernel died nbgrader wrote no autograded notebook: the submitted one stands in,
    so that the student still gets feedback on every part.
    """
    import nbformat

    from .feedback import SanitizeFeedback

    folder = scratch / "autograded" / student / assignment
    for v in verdicts:
        submitted_nb = scratch / "submitted" / student / assignment / v.notebook
        if not (folder / v.notebook).exists() and submitted_nb.exists():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(submitted_nb, folder / v.notebook)
    cells = {v.notebook: v.cells for v in verdicts}
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in cells.get(path.name, {}) and cell.metadata["nbgrader"].get("grade"):
                cell.metadata["autograder"] = {"isolated": asdict(cells[path.name][gid])}
        nb, _ = SanitizeFeedback().preprocess(nb, {})
        mode = path.stat().st_mode & 0o7777  # nbgrader leaves it read-only (0444): so it stays
        path.chmod(mode | 0o200)  # (as root that goes unnoticed; any other user needs it)
        nbformat.write(nb, path)
        path.chmod(mode)


def _worker(
    root: Path, scratch: Path, student: str, assignments: list[str], feedback: bool, call_timeout: float | None
) -> None:
    """Grade one student's assignments in the scratch course; JSON lines on stdout.

    Per assignment: first the isolated verdicts (one line, said at once, so that they count
    even if the in-kernel run below is stopped), then nbgrader's autograde, then the isolated
    scores over nbgrader's in the scratch gradebook, the feedback, and the outcome (a line).
    """
    api = course.nbgrader_api(scratch)
    isolated = call_timeout is not None
    if sandboxed_kernel.available():  # nbgrader's kernels in the sandbox too (see autograder.kernel)
        sandboxed_kernel.configure(api.config, hidden_tests=not isolated)
    db = gradebook_path(scratch)
    limits = Limits(call_seconds=call_timeout) if isolated else None
    for assignment in assignments:
        start = time.perf_counter()
        verdicts: list[verdict.NotebookVerdict] = []
        scores: dict[str, dict[str, float]] = {}
        if isolated:
            work = scratch / "submitted" / student / assignment
            verdicts = verdict.grade_assignment(root / "source" / assignment, work, limits)
            scores = {Path(v.notebook).stem: {g: c.score for g, c in v.cells.items()} for v in verdicts}
            print(json.dumps({"verdict": assignment, "isolated": scores}), flush=True)
        status, detail = _classify(api.autograde(assignment, student, force=True, create=True))
        if status == GRADED:
            detail = _timed_out_cells(scratch, student, assignment)
        kernel = gradebook_scores(db, student, assignment)
        if isolated:
            record_scores(db, student, assignment, scores)
        _annotate(scratch, student, assignment, verdicts)
        if feedback and (status in (GRADED, KERNEL_DIED) or isolated):
            fb = api.generate_feedback(assignment, student, force=True)
            if not fb.get("success"):
                detail = (detail + "; " if detail else "") + "feedback could not be generated"
        flags = _flags(kernel, verdicts) if isolated else []
        notes = [n for v in verdicts for n in v.notes]
        if notes:
            detail = (detail + "; " if detail else "") + "; ".join(notes)[:500]
        seconds = time.perf_counter() - start
        outcome = Outcome(student, assignment, status, seconds, detail, kernel, scores, flags)
        print(json.dumps(asdict(outcome)), flush=True)


def _grade_student(
    root: Path,
    student: str,
    assignments: list[str],
    feedback: bool,
    timeout: float,
    threads: int | None = None,
    call_timeout: float | None = 10.0,
    golden: Path | None = None,
    lock: threading.Lock | None = None,
) -> list[Outcome]:
    """Grade one student in a scratch course by a worker; whatever happens to it, an Outcome per assignment.

    call_timeout: seconds a call of a student function may take in the isolated pass (None: no such pass).
    golden: the gradebook the grades go to (default: the course's own); lock: held while it is used.
    threads: BLAS/OpenMP threads of the worker and its kernels (one per worker when students run
    side by side, so that they share the cores instead of fighting over them).
    """
    golden = golden or gradebook_path(root)
    lock = lock or threading.Lock()
    scratch = Path(tempfile.mkdtemp(prefix=f"autograder-{student}-"))
    try:
        shutil.copy(root / "nbgrader_config.py", scratch)
        with lock, sqlite3.connect(golden) as src, sqlite3.connect(gradebook_path(scratch)) as dst:
            src.backup(dst)
        refused = {
            a: copy_submission(root / "submitted" / student / a, scratch / "submitted" / student / a)
            for a in assignments
        }
        outcomes = _run_worker(root, scratch, student, assignments, feedback, timeout, threads, call_timeout)
        for o in outcomes:
            if refused[o.assignment]:
                o.detail = "; ".join([*refused[o.assignment], *([o.detail] if o.detail else [])])
        with lock:
            for o in outcomes:
                record_scores(golden, student, o.assignment, o.isolated or o.kernel)
        for a in assignments:
            for kind in ("autograded", "feedback"):
                made, dest = scratch / kind / student / a, root / kind / student / a
                if made.is_dir():
                    shutil.rmtree(dest, ignore_errors=True)
                    shutil.copytree(made, dest)
        return outcomes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


#: A submitted file larger than this is not copied (the course's largest, 05's IMAGES.npy, is 2 MB).
MAX_SUBMITTED_BYTES = 64 * 2**20


def copy_submission(src: Path, dest: Path) -> list[str]:
    """Copy a submitted folder's plain files and folders; what was refused, in words.

    A symbolic link (to the course's source, to another student's notebook, or to nothing), a
    device, a pipe, a file over MAX_SUBMITTED_BYTES, or a notebook that is not a notebook is not
    copied: that file is graded as missing. Nothing is followed, so nothing outside the
    submission is read.
    """
    refused: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_symlink() or not src.is_dir():
        return [f"{src.name}/ is not a folder: nothing of it is graded"]
    for path in sorted(src.rglob("*")):  # rglob enters no linked folder: the link is reported instead
        rel = path.relative_to(src)
        if path.is_symlink():
            refused.append(f"{rel} is a symbolic link: graded as missing")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            refused.append(f"{rel} is not a plain file: graded as missing")
        elif path.stat().st_size > MAX_SUBMITTED_BYTES:
            refused.append(f"{rel} is larger than {MAX_SUBMITTED_BYTES // 2**20} MiB: graded as missing")
        elif path.suffix == ".ipynb" and not _is_notebook(path):
            refused.append(f"{rel} is not a notebook nbgrader can read: graded as missing")
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel, follow_symlinks=False)
    return refused


def _is_notebook(path: Path) -> bool:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        return all(isinstance(c.get("metadata", {}).get("nbgrader", {}), dict) for c in nb.cells)
    except Exception:  # whatever it is, it is not a notebook: graded as missing
        return False


def _run_worker(
    root: Path,
    scratch: Path,
    student: str,
    assignments: list[str],
    feedback: bool,
    timeout: float,
    threads: int | None,
    call_timeout: float | None,
) -> list[Outcome]:
    """Run the worker with its time budget; its outcomes, or what became of each assignment if it failed."""
    env = dict(os.environ)
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    # The worker's temporary folders (its kernels' and sandboxes'), removed whatever becomes of it.
    # Short: the kernels' ipc sockets are in it, and a socket's path has at most 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="ag-"))
    env["TMPDIR"] = str(tmp)
    cmd = [sys.executable, "-m", "autograder.grading", "--worker", str(root), str(scratch), student, *assignments]
    if not feedback:
        cmd.append("--no-feedback")
    cmd.append(f"--call-timeout={call_timeout}" if call_timeout is not None else "--no-isolation")
    # Every process the kernels start, daemons included, dies with the worker.
    cmd = [*_pid_namespace(), *cmd]
    start = time.perf_counter()
    # At most WORKER_PROCESSES processes and WORKER_MEMORY bytes for the worker and all it starts,
    # and its share of the cores: a submission that spins on every core slows no one else's grading.
    group = cgroup.Cgroup(pids=WORKER_PROCESSES, memory=WORKER_MEMORY, cpus=threads)
    if not group.active:  # no control group for this user: the worker limits itself (see _worker_limits)
        cmd += _worker_limits()
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            env=env,
            cwd=scratch,
            preexec_fn=group.preexec if group.active else None,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and every kernel it started
            out, err = proc.communicate()
            killed = True
    finally:
        group.close()
        sandboxed_kernel.remove(tmp)  # follows no link a kernel left there
    done, early = {}, {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
            if "verdict" in data:
                early[str(data["verdict"])] = dict(data["isolated"])
            else:
                o = Outcome(**data)
                done[o.assignment] = o
        except (ValueError, TypeError, KeyError):  # not a line of the worker's: ignored
            continue
    outcomes = []
    for a in assignments:
        if a in done:
            outcomes.append(done[a])
            continue
        seconds = time.perf_counter() - start
        if killed:
            detail = f"grading stopped after {timeout:.0f} s"
            if a in early:
                detail += ": the isolated score is recorded"
            outcomes.append(Outcome(student, a, TIMED_OUT, seconds, detail, isolated=early.get(a, {})))
        else:
            tail = (err.strip().splitlines() or ["(no output)"])[-1][:300]
            outcomes.append(Outcome(student, a, FAILED, seconds, tail, isolated=early.get(a, {})))
    return outcomes


@functools.cache
def _pid_namespace() -> tuple[str, ...]:
    """The command that runs a worker in a PID namespace of its own; () where unshare is not allowed.

    Root needs nothing more; any other user gets a user namespace of its own too, where it keeps its
    user id and has no rights on the machine (util-linux older than 2.38: it is root of that namespace,
    which gives no more rights outside it). The probes say nothing (their refusal is the answer).
    """
    if not shutil.which("unshare"):
        return ()
    users = [()] if os.geteuid() == 0 else []
    users += [("--user", "--map-current-user"), ("--user", "--map-root-user")]
    for user in users:
        cmd = ("unshare", *user, "--pid", "--fork", "--kill-child")
        try:
            quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            if subprocess.run([*cmd, "true"], timeout=30, **quiet).returncode == 0:
                return (*cmd, "--")
        except (OSError, subprocess.SubprocessError):
            continue
    return ()


def _worker_limits() -> list[str]:
    """The worker's flags that bound it where no control group can be made (any user but root, mostly).

    RLIMIT_NPROC caps the processes (threads included) of a user id *in a user namespace*: set by the
    worker itself, inside the one of _pid_namespace, it caps the worker and all it starts without
    touching anyone else. Outside a user namespace it counts every process of the user on the machine,
    so the worker gets that many more. (Root is exempt from it.) RLIMIT_AS caps each process's memory
    at WORKER_MEMORY: per process, not in all, so fewer processes than in a control group (a kernel's
    fork bomb of 512 copies was measured at 6 GB; a worker grading the demo ran 17 tasks at most).
    """
    processes = _rlimit_processes()
    if "--user" not in _pid_namespace():
        processes += tasks_of_user()
    return [f"--max-processes={processes}", f"--max-memory={WORKER_MEMORY}"]


def _rlimit_processes() -> int:
    """The process limit of a worker bounded by resource limits: ample for its threads on any machine."""
    return min(WORKER_PROCESSES, 128 + 4 * (os.cpu_count() or 1))


def _limit_worker(argv: list[str]) -> None:
    """Apply the flags of _worker_limits to this process (and so to all it starts)."""
    for flag, kind in (("--max-processes=", resource.RLIMIT_NPROC), ("--max-memory=", resource.RLIMIT_AS)):
        for value in [int(a.split("=", 1)[1]) for a in argv if a.startswith(flag)]:
            resource.setrlimit(kind, (value, value))


def worker_bounds() -> str:
    """What bounds each grading worker on this machine, in one line (for the output of `grade`)."""
    pid = _pid_namespace()
    where = "in a PID namespace" + (" (and a user namespace) of its own" if "--user" in pid else " of its own")
    if not pid:
        where = "in no PID namespace (unshare is refused: a process a kernel leaves behind outlives its worker)"
    if cgroup.available():
        memory = f"{WORKER_MEMORY / 2**30:g} GiB"
        limits = f"a control group ({WORKER_PROCESSES} processes, {memory} in all, its share of the cores)"
    else:
        limits = (
            f"resource limits ({_rlimit_processes()} processes, {WORKER_MEMORY / 2**30:g} GiB per process; "
            "this user may not make a control group, which would bound the memory in all)"
        )
    return f"each worker {where}, bounded by {limits}"


# --------------------------------------------------------------------------- the whole class


def grade(
    root: Path = course.COURSE_ROOT,
    assignments: list[str] | None = None,
    jobs: int | None = None,
    feedback: bool = True,
    csv: Path | None = None,
    timeout: float = 1800.0,
    check: bool = True,
    call_timeout: float | None = 10.0,
    students: list[str] | None = None,
    unsafe: bool = False,
) -> Report:
    """Grade every submission of the given assignments (default: all) and export the grades.

    jobs: students graded at once (default: the machine's cores).
    timeout: seconds one student's grading may take in all before it is stopped.
    call_timeout: seconds a call of a student function may take in the isolated pass, whose scores
      are recorded (autograder.verdict); None: no isolated pass, nbgrader's in-kernel scores are kept.
    students: grade only these (default: everyone in submitted/); an unknown one is a CourseError.
    unsafe: grade where student code cannot be sandboxed (refused otherwise: see refuse_unsandboxed).
    """
    if not unsafe:
        refuse_unsandboxed()
    root = Path(root).resolve()
    assignments = assignments or course.source_assignments(root)
    if check:
        check_course(root, assignments)
    work = submitted(root, assignments)
    if students is not None:
        unknown = sorted(set(students) - set(work))
        if unknown:
            raise CourseError(f"no submission of {', '.join(unknown)} in {root / 'submitted'} for {assignments}")
        work = {s: a for s, a in work.items() if s in students}
    start = time.perf_counter()
    course.release(assignments, root)  # puts the current hidden tests in the gradebook (release/ is unchanged)
    report = Report(backup=backup_gradebook(root), jobs=jobs or os.cpu_count() or 1)
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="autograder-gradebook-") as tmp:
        # Grades are collected in a private copy, put in place once at the end: nothing a
        # kernel writes to the course's gradebook during the run survives it.
        golden = Path(tmp) / "gradebook.db"
        with sqlite3.connect(gradebook_path(root)) as src, sqlite3.connect(golden) as dst:
            src.backup(dst)
        with ThreadPoolExecutor(max_workers=report.jobs) as pool:
            threads = max(1, (os.cpu_count() or 1) // report.jobs)
            futures = [
                pool.submit(_grade_student, root, s, a, feedback, timeout, threads, call_timeout, golden, lock)
                for s, a in work.items()
            ]
            for (student, theirs), future in zip(work.items(), futures):
                try:
                    report.outcomes.extend(future.result())
                except Exception as error:  # one student's failure never loses the others' grades
                    said = f"{type(error).__name__}: {error}".strip()[:300]
                    report.outcomes.extend(Outcome(student, a, GRADING_ERROR, detail=said) for a in theirs)
        with sqlite3.connect(golden) as src, sqlite3.connect(gradebook_path(root)) as dst:
            src.backup(dst)
    report.csv = export_csv(root, csv or root / "grades.csv")
    report.seconds = time.perf_counter() - start
    return report


def refuse_unsandboxed() -> None:
    """A CourseError where this machine cannot sandbox student code (see autograder.kernel and .sandbox).

    Without namespaces, nbgrader's kernel would run every submission with the grader's rights, next
    to the course, the gradebook and the other students: no score it leads to can be trusted.
    """
    if sandboxed_kernel.available():
        return
    raise CourseError(
        f"student code cannot be sandboxed here ({sandbox.FALLBACK_REASON.split(';')[0]}): each submission "
        "would run with your rights, next to the course and every other student. Grade as root or where "
        "unprivileged user namespaces are allowed, or pass --unsafe if you trust every submission "
        "(README: threat model)"
    )


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
                if o and o.status != NOT_SUBMITTED:  # submitted, but nothing is in the gradebook
                    row.append("? !")
                    notes.append(f"  {s} / {a}: {o.status}{': ' + o.detail if o.detail else ''}")
                else:
                    row.append("-")
                continue
            got = sum(v or 0.0 for v in per[s, a].values())
            total += got
            look = o and (o.status != GRADED or o.detail or o.flags)
            row.append(f"{got:g}/{maxima[a]:g}{' !' if look else ''}")
            if look:
                said = "; ".join([o.detail] * bool(o.detail) + o.flags)
                notes.append(f"  {s} / {a}: {o.status}{': ' + said if said else ''}")
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
    args = [a for a in argv[1:] if not a.startswith("--")]
    calls = [float(a.split("=", 1)[1]) for a in argv if a.startswith("--call-timeout=")]
    _limit_worker(argv)
    _worker(Path(args[0]), Path(args[1]), args[2], args[3:], "--no-feedback" not in argv, (calls or [None])[0])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
