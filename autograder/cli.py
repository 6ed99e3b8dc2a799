"""The instructors' command line: ``python -m autograder COMMAND``.

Commands
  demo       the main job on the embedded demo class: set up a course with demo
             students' submissions, grade them, print the table
  grade      grade every submission of a course: check, back up, autograde in
             parallel, feedback, CSV, summary table, class report
  restore    put a gradebook backup back in place
  release    refresh the helper cells of source/ from autograder/student_helper.py, then
             regenerate release/ from source/ with nbgrader generate_assignment, and each
             assignment's lectures/ from notebooks/
  features   train the reference sparse autoencoder and write its features PNG
  experiment train the sparsity experiment of lecture 03 (beta 0 / 3, 25 / 100 hidden units)
  data       rebuild the whitened images shipped with assignment 05
  bench      measure how fast the course runs and grades, against baselines
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

from .course import COURSE_ROOT
from .options import DEFAULTS, JOBS_PER_CORE

DEFAULT_PNG = COURSE_ROOT / "build" / "learned_features.png"


def release(names: list[str] | None = None) -> list[str]:
    """Refresh source/'s given_explain cells from autograder/student_helper.py, then regenerate release/
    for the named assignments (default: all), their lectures/ included; exit with nbgrader's log on failure."""
    from .course import Course

    course = Course()
    for path in course.helper_cells(refresh=True):
        print(f"refreshed the given_explain cell of {path.relative_to(course.root)} from autograder/student_helper.py")
    done = course.release(names)  # an nbgrader failure is said in one line by main()
    for name in done:
        lectures = ", ".join(course.lectures(name)) if course.lecture_files(name) else "none"
        print(f"released {name} -> release/{name}/ (lectures/, English and zh/: {lectures})")
    return done


def _cmd_release(args) -> int:
    done = release(args.assignments)
    if not done:
        print("source/ holds no assignment notebook yet: nothing to release")
    return 0


def _cmd_features(args) -> int:
    from . import features

    run = features.train(num_patches=args.patches, max_iter=args.max_iter, seed=args.seed)
    print(run.summary())
    path = features.save_features_png(run.W1, args.out)
    print(f"learned features written to {path}")
    return 0


def _cmd_experiment(args) -> int:
    from . import features

    runs = features.sparsity_experiment(num_patches=args.patches, max_iter=args.max_iter, seed=args.seed)
    for run in runs:
        print(run.summary())
    path = features.save_experiment(runs, args.out)
    print(f"the experiment's parameters and {features.EXPERIMENT_PATCHES} patches written to {path}")
    return 0


def _cmd_data(args) -> int:
    from . import data

    path = data.write_images(args.out)
    print(f"whitened images {data.IMAGE_NAMES} written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _cmd_bench(args) -> int:
    from . import bench

    print(bench.run(args))
    return 0


def _run_grading(course, args) -> int:
    from . import grading

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the progress, one line per student
    options = grading.Options(
        assignments=args.assignments or None,
        students=args.student,
        jobs=args.jobs,
        feedback=not args.no_feedback,
        csv=args.csv,
        class_report=not args.no_class_report,
        timeout=args.timeout,
        check=not args.no_check,
        call_timeout=None if args.no_isolation else args.call_timeout,
        unsafe=args.unsafe,
        scheduler=args.scheduler,
    )
    try:
        report = grading.grade(course, options)
    except grading.CourseError as error:
        print(f"error: {error}")
        return 1
    assignments = list(options.assignments or course.assignments())
    print(grading.summary(course, report, assignments))
    graded = len({o.student for o in report.outcomes})
    print(
        f"\ngraded {len(report.outcomes)} submissions of {graded} students in {report.seconds:.0f} s "
        f"({report.seconds / max(graded, 1):.1f} s per student, {report.jobs} at once)"
    )
    if options.scheduler:
        print(
            f"workers: on the Dask cluster at {options.scheduler}: each student's worker bounded and sandboxed "
            "on its machine as it would be here (docs/instructors.md: grading on a cluster)"
        )
    elif options.isolated:
        from . import sandbox

        mode = sandbox.isolation()
        why = f": {sandbox.fallback_reason()}" if sandbox.fallback_reason() else ""
        print(f"isolation: {mode}{why} (the recorded scores are the isolated pass's; docs/threat-model.md)")
    if not options.scheduler:
        print(f"workers: {grading.worker_bounds(options)}")
    print(f"grades (CSV):     {report.csv}")
    if report.class_report:
        print(f"class report:     {report.class_report}  (CSV: {report.class_csv})")
    elif options.class_report:
        print("class report:     not written (the log says why; the grades are recorded)")
    if options.feedback:
        print(f"feedback (HTML):  {course.root / 'feedback'}/<student>/<assignment>/")
    if report.backup:
        print(f"gradebook backup: {report.backup}  (undo with: python -m autograder restore {report.backup})")
    return 0


def _cmd_grade(args) -> int:
    from .course import Course

    return _run_grading(Course(args.course), args)


def _cmd_serve(args) -> int:
    from . import service
    from .course import Course

    return service.main(Course(args.course), args.exchange, args.min_gap, args.poll, args.jobs)


def _cmd_restore(args) -> int:
    from . import grading

    try:
        path = grading.gradebook.restore(grading.Course(args.course), args.backup)
    except grading.CourseError as error:
        print(f"error: {error}")
        return 1
    print(f"restored {args.backup} -> {path} (the gradebook it replaced was backed up first)")
    return 0


def _cmd_demo(args) -> int:
    from . import demo

    course = demo.build_demo_course(args.dest.resolve())
    print(f"demo course with {len(demo.DEMO_STUDENTS)} students set up in {course.root}")
    args.unsafe = True  # its submissions are the course's own: graded even where no sandbox can be made
    return _run_grading(course, args)


def _add_grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignments", nargs="*", help="assignments to grade (default: every assignment in source/)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help=f"students graded at once (default: {JOBS_PER_CORE} per core; with --scheduler, sent at once: 256)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="grade on the workers of this Dask scheduler (tcp://HOST:8786), which share the course's file system",
    )
    p.add_argument(
        "--student", action="append", default=None, help="grade only this student (repeat for several; default: all)"
    )
    p.add_argument("--no-feedback", action="store_true", help="skip the students' feedback HTML")
    p.add_argument("--csv", type=Path, default=None, help="where to export grades (default: COURSE/grades.csv)")
    p.add_argument(
        "--no-class-report",
        action="store_true",
        help="skip the class report (COURSE/reports/class_report.html and .csv: what the class lost, to which bug)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULTS.timeout,
        help="seconds one student's grading may take in all (default: %(default)g)",
    )
    p.add_argument("--no-check", action="store_true", help="grade even if release/ is out of date with source/")
    p.add_argument(
        "--call-timeout",
        type=float,
        default=DEFAULTS.call_timeout,
        help="seconds one call of a student's function may take in the isolated pass (default: %(default)g)",
    )
    p.add_argument(
        "--no-isolation",
        action="store_true",
        help="record nbgrader's in-kernel scores alone, without the isolated pass (which student code can't fake)",
    )
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="grade even where student code cannot be sandboxed (no user namespaces): trust every submission",
    )


def _add_training_options(p: argparse.ArgumentParser, out: Path = DEFAULT_PNG, what: str = "PNG") -> None:
    p.add_argument("--out", type=Path, default=out, help=f"{what} to write (default: {out.relative_to(COURSE_ROOT)})")
    p.add_argument("--patches", type=int, default=10000, help="number of 8x8 patches (default: 10000)")
    p.add_argument("--max-iter", type=int, default=400, help="L-BFGS iterations (default: 400)")
    p.add_argument("--seed", type=int, default=0, help="seed of the patch sampling and the initialization (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Instructors' tools of the sparse autoencoder course. Run from anywhere; paths are the course's.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="grade the embedded demo class end to end (the README's main job)")
    p.add_argument("--dest", type=Path, default=COURSE_ROOT / "build" / "demo_course", help="where to set it up")
    _add_grading_options(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "grade", help="grade every submission: check, back up, autograde, feedback, CSV, table, class report"
    )
    p.add_argument("--course", type=Path, default=COURSE_ROOT, help="the nbgrader course directory (default: this one)")
    _add_grading_options(p)
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser(
        "serve", help="feedback on submit: grade each new hand-in of the exchange and release its feedback (a service)"
    )
    from .service import MIN_GAP, POLL

    p.add_argument("--course", type=Path, default=COURSE_ROOT, help="the nbgrader course directory (default: this one)")
    p.add_argument("--exchange", type=Path, required=True, help="nbgrader's exchange root (c.Exchange.root)")
    p.add_argument(
        "--min-gap",
        type=float,
        default=MIN_GAP,
        help=f"seconds between two graded hand-ins of one student's assignment (default: {MIN_GAP:g}; 0: no limit)",
    )
    p.add_argument("--poll", type=float, default=POLL, help=f"seconds between looks (default: {POLL:g})")
    p.add_argument("--jobs", type=int, default=None, help="students graded at once (default: as grade)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("restore", help="put a gradebook backup (backups/gradebook-*.db) back in place")
    p.add_argument("backup", type=Path, help="the backup file")
    p.add_argument("--course", type=Path, default=COURSE_ROOT, help="the nbgrader course directory (default: this one)")
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser(
        "release", help="refresh source/'s helper cells, regenerate release/ (nbgrader generate_assignment --force)"
    )
    p.add_argument("assignments", nargs="*", help="assignment names (default: every assignment in source/)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("features", help="train the reference sparse autoencoder and write its features PNG")
    _add_training_options(p)
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser(
        "experiment", help="train the sparsity experiment (beta 0 / 3, 25 / 100 hidden units) that lecture 03 shows"
    )
    from .features import EXPERIMENT_PATH

    _add_training_options(p, EXPERIMENT_PATH, "the .npz file")
    p.set_defaults(func=_cmd_experiment)

    p = sub.add_parser("data", help="rebuild the whitened natural images (IMAGES.npy) from scikit-image's photographs")
    from .data import IMAGES_PATH

    p.add_argument(
        "--out",
        type=Path,
        default=IMAGES_PATH,
        help=f"where to write (default: {IMAGES_PATH.relative_to(COURSE_ROOT)})",
    )
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("bench", help="measure cost+gradient, training, hidden tests, grading and CI against baselines")
    from .bench import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_bench)
    return parser


def _error_log(error: BaseException) -> Path:
    """Write the whole story of a failed command (traceback, nbgrader's log) to a file; its path."""
    text = "".join(traceback.format_exception(error))
    if getattr(error, "log", ""):
        text += "\nnbgrader's log:\n" + error.log
    for folder in (COURSE_ROOT / "build", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "autograder-error.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return Path("(nowhere: no writable folder)")


def _in_subprocess(error: BaseException) -> bool:
    """Whether the error was raised while starting a program (subprocess), not while opening a file."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.endswith("subprocess.py"):
            return True
        frame = frame.tb_next
    return False


def _what_to_do(error: BaseException) -> str:
    """The next step for the person who ran the command, in a few words."""
    cause = error
    while cause.__cause__ or cause.__context__:
        cause = cause.__cause__ or cause.__context__
    missing = cause.filename if isinstance(cause, FileNotFoundError) and _in_subprocess(cause) else None
    text = f"{error} {getattr(error, 'log', '')}"
    if missing or "No such file or directory: 'alembic'" in text:  # a program that was not found
        program = missing or "alembic"
        return (
            f"the program {program!r} is neither on PATH nor beside {sys.executable}: "
            f"install the course there with `{sys.executable} -m pip install -e {COURSE_ROOT}`"
        )
    if isinstance(cause, PermissionError):
        return f"this user may not write {cause.filename or 'a file of the course'}: run it as the course's owner"
    return "the details say where it failed; if it is not your course's doing, please report it"


def main(argv: list[str] | None = None) -> int:
    """Run one command. A failure is said in one line (what failed, what to do, where the details are),
    not as a traceback; AUTOGRADER_DEBUG=1 shows the traceback instead."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        said = (str(error).strip().splitlines() or [""])[0]
        if type(error).__module__ == "builtins":  # OSError and the like: their name says half of it
            said = f"{type(error).__name__}: {said}".rstrip(": ")
        print(
            f"error: {args.command} stopped: {said} — {_what_to_do(error)} (details: {_error_log(error)})",
            file=sys.stderr,
        )
        return 1
