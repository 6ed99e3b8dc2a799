"""How fast the course runs and grades, measured against baselines in one run.

    python -m autograder bench                      # everything (the notebooks and grading take a while)
    python -m autograder bench --sections grading   # a class of 20 by grade and by plain nbgrader, a profile
    python -m autograder bench --sections cost training

Sections (``--sections``, default all):

* ``cost``: one sparse autoencoder cost+gradient on 10,000 8x8 patches (64-25-64) with
  ``fast.sparse_autoencoder_cost``, against the plain ``reference.sparse_autoencoder_cost``
  (both with single-threaded BLAS), against a per-example loop of the notes' algorithm
  (``loop_cost``) and against the arithmetic bound: the floating-point operations of the
  five matrix products (``matmul_flops``) at the rate NumPy's matmul reaches on the same
  shapes and on large square matrices. The exponentials are timed too: they are the other
  big cost.
* ``training``: the original exercise (400 L-BFGS iterations, 10,000 patches, 25 hidden
  units, rho 0.01, lambda 1e-4, beta 3) as ``features.train`` runs it (``fast``): seconds
  and the cost reached; then, interleaved, by the plain ``reference.train_sparse_autoencoder``
  (a vectorized solution, one BLAS thread) and by 05's training cell in a Jupyter kernel, the
  release notebook filled with the solutions (the time it prints; its target: at most 1.5x the
  plain reference's).
* ``notebooks``: every source/ notebook (the solutions, hidden tests included) executed
  with nbclient in a scratch folder, per test cell; then the same notebooks answered by
  per-example loop implementations (``loop_answers``), up to their last test cell.
* ``grading``: a class of ``--students`` realistic students (default 20: the demo's kinds of
  work, perfect, buggy, blank and crashing, and the sample submissions, every student handing in
  every assignment), graded in the same run, each time on a copy of it: one student alone by
  ``autograder.grading.grade`` (the wait for feedback), the class by ``grade`` (``--jobs``, default
  grade's own: machine time per student = wall x cores used / students), and by plain nbgrader's
  ``autograde``, one notebook after another (what an instructor without this project runs); each
  against the other and against the issue's figures of 2026-11-30. Then the profile of one
  student's course: ``autograder.grading.worker.grade`` in-process, every step timed
  (``autograder.bench.profile``). The class run's class report (``autograder.grading.class_report``) is
  kept in ``build/bench_class_report/``, its points lost checked against the run's gradebook.
* ``surge``: feedback on submit (``autograder.bench.surge``): 30 hand-ins of 03_backprop from 10 students
  within two minutes into an exchange, answered by the feedback service as they come: Submit-to-feedback
  p50/p95, beside ``grade``'s batch time for the same final submissions.
* ``ci``: the total time of ``bash .ci/run``, read from its log (``--ci-log``) or given
  (``--ci-seconds``); the command that measures it is printed either way.

Every figure is a wall-clock time measured in this run; repeated timings print the
best (and the median). Other processes on the machine slow everything down: the run
starts and ends with the machine's load, and the share of the CPUs other processes used.

One module per section (``cost``, ``notebooks``, ``grading`` with ``profile``), the machine and
timing (``machine``), the printed figures and targets (``report``); the command is here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..course import COURSE_ROOT, Course
from ..grading.options import Options
from .cost import CostFigures, exp_count, loop_cost, matmul_flops, measure_cost, measure_training
from .grading import KINDS, GradingFigures, GradingRun, class_work, measure_grading
from .machine import Machine
from .notebooks import CellTime, NotebookFigures, loop_answers, measure_notebooks, run_notebook, time_assignment
from .profile import Profile, profile_student
from .report import CI_COMMAND, FIGURES, SECTIONS, TARGETS, ci_seconds, grading_lines, report
from .surge import SurgeFigures, measure_surge

__all__ = [
    "CI_COMMAND",
    "FIGURES",
    "SECTIONS",
    "TARGETS",
    "CellTime",
    "CostFigures",
    "GradingFigures",
    "GradingRun",
    "KINDS",
    "NotebookFigures",
    "Profile",
    "add_arguments",
    "class_work",
    "grading_lines",
    "ci_seconds",
    "exp_count",
    "loop_answers",
    "loop_cost",
    "matmul_flops",
    "profile_student",
    "measure_surge",
    "SurgeFigures",
    "run",
    "run_notebook",
    "time_assignment",
]


#: Where the class report of the grading section's class is kept (its course is deleted after the run).
CLASS_REPORT = COURSE_ROOT / "build" / "bench_class_report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to measure (default: all)"
    )
    p.add_argument(
        "--patches", type=int, default=10000, help="patches of the cost and training figures (default: 10000)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=20,
        help="timing rounds of the fast and the plain cost, exp and matmul (default: 20; the best is kept)",
    )
    p.add_argument("--loop-repeat", type=int, default=3, help="timings of the loop implementation (default: 3)")
    p.add_argument("--square", type=int, default=2000, help="size of the square matmul (default: 2000)")
    p.add_argument("--max-iter", type=int, default=400, help="L-BFGS iterations of the training (default: 400)")
    p.add_argument(
        "--assignments", nargs="+", default=None, help="assignments of the notebook and grading figures (default: all)"
    )
    p.add_argument("--students", type=int, default=20, help="class size of the grading figures (default: 20)")
    p.add_argument("--jobs", type=int, default=None, help="students graded at once (default: grade's, twice the cores)")
    p.add_argument("--no-feedback", action="store_true", help="grade without writing the feedback HTML")
    p.add_argument("--cell-timeout", type=float, default=300.0, help="per-cell timeout of the notebook runs (s)")
    p.add_argument(
        "--kernel-threads",
        type=int,
        default=1,
        help="BLAS threads of the notebook runs' kernels, as grade gives them on 2 cores (default: 1; 0: inherited)",
    )
    p.add_argument("--ci-log", type=Path, default=COURSE_ROOT / "build" / "ci.log", help="log of `bash .ci/run`")
    p.add_argument("--ci-seconds", type=float, default=None, help="CI's total time, if measured elsewhere")


def run(args) -> str:
    """Measure the sections asked for and return the report (printing progress on stderr)."""
    machine = Machine()
    sections = set(args.sections)
    assignments = args.assignments or Course().assignments()
    results: dict = {}

    def step(what: str) -> None:
        print(f"[bench] {what} ...", file=sys.stderr, flush=True)

    if "cost" in sections:
        step("cost+gradient: fast, plain reference, loop, matmul, exp")
        results["cost"] = measure_cost(args.patches, args.repeat, args.loop_repeat, args.square)
    if "training" in sections:
        step(f"training: {args.max_iter} L-BFGS iterations on {args.patches} patches")
        results["training"] = measure_training(args.patches, args.max_iter)
    if "notebooks" in sections:
        step(f"notebooks: {', '.join(assignments)} (solutions, then loops)")
        results["notebooks"] = measure_notebooks(assignments, args.cell_timeout, args.kernel_threads or None)
    if "grading" in sections:
        jobs = args.jobs or Options().workers
        results["grading_figures"] = measure_grading(
            assignments, args.students, jobs, not args.no_feedback, step=lambda what: step(what), keep=CLASS_REPORT
        )
    if "surge" in sections:
        results["surge"] = measure_surge(jobs=args.jobs, step=step)
    if "ci" in sections:
        results["ci"] = ci_seconds(args.ci_log, args.ci_seconds)
    return report(machine, **results)
