"""The figure lines the command prints, the targets they are held to, and CI's time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .cost import HIDDEN, VISIBLE, CostFigures
from .grading import HANGING, KINDS, TARGET, TARGET_ASSIGNMENT, TODAY, TODAY_DATE, GradingFigures
from .machine import Machine
from .notebooks import CellTime, NotebookFigures
from .surge import LINES as SURGE_LINES
from .surge import TARGET_P95, SurgeFigures, surge_lines

SECTIONS = ("cost", "training", "notebooks", "grading", "surge", "ci")

#: The figure lines the command prints, in order (a section that is skipped prints none of its lines).
FIGURES = {
    "cost": [
        "flops per evaluation",
        "matmul rate, the same shapes",
        "matmul rate, square",
        "exp",
        "cost+gradient, fast",
        "cost+gradient, plain reference",
        "cost+gradient, loop",
        "fast vs loop",
        "fast vs matmul bound",
    ],
    "training": ["training", "training, plain reference", "training, 05's cell"],
    "notebooks": ["hidden tests, solutions", "hidden tests, loops", "slowest ungraded cell"],
    "grading": [
        "grading, the class",
        "grading, 1 student alone",
        "grading, 1 assignment alone",
        "grading, machine time",
        "grading, every function hangs",
        "plain nbgrader autograde",
        "scores, grade vs nbgrader",
        "class report",
        "profile, one student",
    ],
    "surge": SURGE_LINES,
    "ci": ["CI"],
}

#: The targets of the benchmark issue: (section, text).
TARGETS = {
    "loop_ratio": ("cost", "fast cost+gradient at least 50x faster than the loop"),
    "bound": ("cost", "fast cost+gradient within 3x of the matmul bound"),
    "training": ("training", "training (400 iterations) under 10 s"),
    "training_cell": ("training", "05's training cell with a vectorized solution at most 1.5x the plain reference's"),
    "cells_solution": ("notebooks", "every hidden test cell under 1 s with the solutions"),
    "cells_loops": ("notebooks", "every hidden test cell under 5 s with loop implementations"),
    "machine_time": ("grading", "at most 10 s of machine time per student for the whole course (>= 20 students)"),
    "one_alone": ("grading", "one student's whole course graded alone in at most 10 s wall"),
    "hang_alone": ("grading", "a student whose every function hangs graded alone in under 2 minutes (wall)"),
    "ratio": ("grading", "machine time per student at most 0.5x plain nbgrader's, in the same run"),
    "assignment_alone": (
        "grading",
        f"one assignment of one student, submit to feedback written, at most {TARGET_ASSIGNMENT:g} s alone",
    ),
    "surge_p95": ("surge", f"Submit to feedback at most {TARGET_P95:g} s at p95 while a surge is graded"),
}


CI_COMMAND = "bash .ci/run 2>&1 | tee build/ci.log"


def ci_seconds(log: Path | None, given: float | None) -> tuple[float | None, str]:
    """CI's total time and where it comes from: --ci-seconds, else the last "== CI took N s" of the log."""
    if given is not None:
        return given, "given with --ci-seconds"
    if log is not None and Path(log).is_file():
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.startswith("== CI took")]
        if lines:
            return float(lines[-1].split()[3]), f"read from {log}"
    return None, "not measured"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _line(key: str, text: str) -> str:
    return f"{key + ':':<34}{text}"


def _cells_summary(times: dict[str, list[CellTime]]) -> tuple[list[str], list[str]]:
    """Per-assignment lines (test cells: max, total, count) and the problems (errors, stderr)."""
    lines, problems = [], []
    for a, cells in times.items():
        graded = [c for c in cells if c.grade_id]
        worst = max(graded, key=lambda c: c.seconds) if graded else None
        total_all = sum(c.seconds for c in cells)
        lines.append(
            f"  {a:<24} {len(graded):>2} test cells: max {worst.seconds if worst else 0:6.2f} s "
            f"({worst.grade_id if worst else '-'}), total {sum(c.seconds for c in graded):6.2f} s; "
            f"all cells {total_all:6.1f} s"
        )
        problems += [f"{a}/{c.grade_id or f'cell {c.index}'}: {c.error}" for c in cells if c.error]
    return lines, problems


def _worst(times: dict[str, list[CellTime]]) -> CellTime | None:
    graded = [c for cells in times.values() for c in cells if c.grade_id]
    return max(graded, key=lambda c: c.seconds) if graded else None


def _slow(times: dict[str, list[CellTime]], limit: float) -> list[str]:
    return [
        f"{a}/{c.grade_id} {c.seconds:.2f} s"
        for a, cells in times.items()
        for c in cells
        if c.grade_id and c.seconds >= limit
    ]


def report(
    machine: Machine,
    cost: CostFigures | None = None,
    training=None,
    notebooks: NotebookFigures | None = None,
    grading_figures: GradingFigures | None = None,
    ci: tuple[float | None, str] | None = None,
    surge: SurgeFigures | None = None,
) -> str:
    """The figures as text: one line per figure (keys from FIGURES), then the targets met or not."""
    out = [_line("machine", Machine.description())]
    met: dict[str, tuple[bool, str]] = {}
    if cost:
        c = cost
        out += [
            _line(
                "flops per evaluation",
                f"{c.flops / 1e6:.1f} M in the five matrix products (10 h v m, h={HIDDEN}, v={VISIBLE}, m={c.m}); "
                f"{c.exps:,} exponentials",
            ),
            _line(
                "matmul rate, the same shapes",
                f"{c.same_shape_rate / 1e9:.1f} GFLOP/s (the five products alone: {_ms(c.products_seconds)})",
            ),
            _line(
                "matmul rate, square",
                f"{c.square_rate / 1e9:.1f} GFLOP/s ({c.square_n}x{c.square_n}; the products would take "
                f"{_ms(c.bound_square)})",
            ),
            _line(
                "exp",
                f"{c.exp_seconds * 1e9:.1f} ns each (np.exp; np.tanh {c.tanh_seconds * 1e9:.1f} ns, expit "
                f"{c.expit_seconds * 1e9:.1f} ns): {_ms(c.exps * c.exp_seconds)} per evaluation",
            ),
            _line(
                "cost+gradient, fast",
                f"{_ms(c.fast[0])} best, {_ms(c.fast[1])} median ({c.m:,} patches, {VISIBLE}-{HIDDEN}-{VISIBLE})",
            ),
            _line(
                "cost+gradient, plain reference",
                f"{_ms(c.plain[0])} best, {_ms(c.plain[1])} median (the fast one is {c.plain_ratio:.1f}x faster)",
            ),
            _line(
                "cost+gradient, loop",
                f"{_ms(c.loop[0])} best, {_ms(c.loop[1])} median (the fast and the plain one agree with it to "
                f"{c.agree:.1e})",
            ),
            _line("fast vs loop", f"{c.loop_ratio:.0f}x faster"),
            _line(
                "fast vs matmul bound",
                f"{c.fast[0] / c.bound_same:.1f}x the same-shape bound "
                f"({c.bound_same / c.fast[0]:.0%} of it), "
                f"{c.fast[0] / c.bound_square:.1f}x the square-rate bound "
                f"({c.bound_square / c.fast[0]:.0%}); "
                f"bound + exponentials: {_ms(c.bound_same + c.exps * c.exp_seconds)}",
            ),
        ]
        met["loop_ratio"] = (c.loop_ratio >= 50, f"{c.loop_ratio:.0f}x")
        met["bound"] = (
            c.fast[0] <= 3 * c.bound_same,
            f"{c.fast[0] / c.bound_same:.1f}x the same-shape bound, {c.fast[0] / c.bound_square:.1f}x the "
            f"square-rate bound; the exponentials alone take {c.exps * c.exp_seconds / c.bound_same:.1f}x the bound",
        )
    if training is not None:
        t = training.fast
        out.append(
            _line(
                "training",
                f"{t.seconds:.1f} s for {t.iterations} L-BFGS iterations ({t.evaluations} evaluations) on "
                f"{t.patches.shape[1]:,} patches; cost {t.initial_cost:.4f} -> {t.final_cost:.4f}",
            )
        )
        met["training"] = (t.seconds < 10 and t.iterations >= 400, f"{t.seconds:.1f} s")
        out.append(
            _line(
                "training, plain reference",
                f"{training.reference:.1f} s (reference.train_sparse_autoencoder, one BLAS thread; best of "
                f"{training.rounds}): {training.reference / t.seconds:.1f}x the fast one",
            )
        )
        out.append(
            _line(
                "training, 05's cell",
                f"{training.cell:.1f} s printed by the cell (the solutions, in a kernel; best of {training.rounds}), "
                f"J_sparse = {training.cell_cost:.4f}: {training.cell_ratio:.2f}x the plain reference",
            )
        )
        met["training_cell"] = (training.cell_ratio <= 1.5, f"{training.cell_ratio:.2f}x")
    if notebooks:
        for key, times, limit, target in [
            ("hidden tests, solutions", notebooks.solutions, 1.0, "cells_solution"),
            ("hidden tests, loops", notebooks.loops, 5.0, "cells_loops"),
        ]:
            worst = _worst(times)
            lines, problems = _cells_summary(times)
            total = sum(c.seconds for cells in times.values() for c in cells if c.grade_id)
            out.append(
                _line(
                    key,
                    f"slowest test cell {worst.seconds if worst else 0:.2f} s "
                    f"({worst.grade_id if worst else '-'}), all test cells {total:.1f} s",
                )
            )
            out += lines
            if problems:
                out.append(f"  cells that failed or wrote to stderr: {'; '.join(problems)}")
            slow = _slow(times, limit)
            met[target] = (
                not slow and not problems,
                "; ".join(slow) or (f"max {worst.seconds:.2f} s" if worst else "-"),
            )
            if problems:
                met[target] = (False, met[target][1] + f"; {len(problems)} cells failed")
        ungraded = [(a, c) for a, cells in notebooks.solutions.items() for c in cells if not c.grade_id]
        if ungraded:
            a, c = max(ungraded, key=lambda x: x[1].seconds)
            threads = notebooks.blas_threads or "inherited"
            out.append(
                _line(
                    "slowest ungraded cell",
                    f"{c.seconds:.1f} s ({a}, cell {c.index}), solutions; kernels' BLAS threads: {threads}",
                )
            )
    if grading_figures:
        lines, targets = grading_lines(grading_figures)
        out += lines
        met.update(targets)
    if surge:
        lines, targets = surge_lines(surge, _line)
        out += lines
        met.update(targets)
    if ci is not None:
        seconds, where = ci
        shown = f"{seconds:.0f} s ({where})" if seconds is not None else where
        out.append(_line("CI", f"{shown}; measure with: {CI_COMMAND}"))
    out.append(
        _line(
            "load",
            f"{os.getloadavg()[0]:.2f} (1-min average; {machine.start_load[0]:.2f} at the start); other processes "
            f"used {machine.others_share()} of the CPUs during the run "
            f"({time.perf_counter() - machine.start_wall:.0f} s)",
        )
    )
    if met:
        out.append("targets:")
        for key, (ok, detail) in met.items():
            out.append(f"  {'met    ' if ok else 'NOT met'}  {TARGETS[key][1]}: {detail}")
    return "\n".join(out)


def _kinds(seconds: dict[str, float]) -> str:
    return ", ".join(f"{k} {s:.1f} s" for k, s in seconds.items())


def _ratio_target(ratio: float, target: float, partial: str = "") -> tuple[bool, str]:
    """(met, in words): a ratio against its target (see _target)."""
    words = f"{ratio:.2f}x"
    if partial:
        return False, f"{words}, measured on {partial} only: not comparable"
    return (True, words) if ratio <= target else (False, f"{words}: {ratio / target:.1f}x the target")


def _target(seconds: float, target: float, partial: str = "") -> tuple[bool, str]:
    """(met, in words): the figure against its target, and by how much it is missed. partial: what makes
    the measurement smaller than the target's (a part of the course, a small class): then not met."""
    words = f"{seconds:.1f} s"
    if partial:
        return False, f"{words}, measured on {partial} only: not comparable"
    if seconds <= target:
        return True, f"{words} ({target - seconds:.1f} s to spare)"
    return False, f"{words}: missed by {seconds - target:.1f} s ({seconds / target:.1f}x the target)"


def grading_lines(g: GradingFigures) -> tuple[list[str], dict[str, tuple[bool, str]]]:
    """The grading section's figure lines and its targets (see GradingFigures)."""
    full = len(g.assignments) == 6
    what = "the whole course (6 assignments)" if full else ", ".join(g.assignments)
    count = {k: sum(1 for v in g.kinds.values() if v == k) for k in KINDS}
    student = next(iter(g.one.per_student), "-")
    plain = g.plain.seconds / max(g.plain.students, 1)  # one notebook after another: wall = machine time
    machine = g.klass.machine_per_student
    today = f"today ({TODAY_DATE})"
    lines = [
        _line(
            "grading, the class",
            f"{g.klass.students} students x {what}: "
            + ", ".join(f"{n} {k}" for k, n in count.items() if n)
            + f"; cell timeout {g.cell_timeout:g} s; each run on a copy of the class"
            + (f"; not graded: {'; '.join(g.klass.problems)}" if g.klass.problems else ""),
        ),
        _line(
            "grading, 1 student alone",
            f"{g.one.seconds:.1f} s wall ({student}, grade): {g.one.seconds / plain:.2f}x plain "
            f"nbgrader's {plain:.1f} s per student; {g.one.seconds / TODAY['one']:.2f}x {today} {TODAY['one']:g} s; "
            "its worker: " + ", ".join(f"{a.split('_', 1)[0]} {s:.1f} s" for a, s in g.one.per_assignment.items()),
        ),
        _line(
            "grading, 1 assignment alone",
            (
                f"at most {max(g.one_assignment.values()):.1f} s wall, submit to feedback written ({student}, "
                "grade as the feedback service runs it): "
                + ", ".join(f"{a.split('_', 1)[0]} {s:.1f} s" for a, s in g.one_assignment.items())
            )
            if g.one_assignment
            else "not measured",
        ),
        _line(
            "grading, machine time",
            f"{machine:.1f} s per student ({g.klass.seconds:.1f} s wall x {g.klass.cores} cores / {g.klass.students} "
            f"students, grade): {machine / plain:.2f}x plain nbgrader's {plain:.1f} s; "
            f"{machine / TODAY['machine']:.2f}x {today} {TODAY['machine']:g} s; "
            f"CPU time {g.klass.cpu_per_student:.1f} s per student; "
            f"a student's course in its worker, by kind: {_kinds(g.by_kind(g.klass))}",
        ),
        _hang_line(g),
        _line(
            "plain nbgrader autograde",
            f"{plain:.1f} s per student ({g.plain.seconds:.1f} s wall for {g.plain.students} students, one notebook "
            f"after another, in-kernel hidden tests, no sandbox, no feedback); "
            f"CPU time {g.plain.cpu_per_student:.1f} s per student; by kind: {_kinds(g.by_kind(g.plain))}"
            + (f"; failed: {'; '.join(g.plain.problems)}" if g.plain.problems else ""),
        ),
    ]
    differ = g.disagreements()
    lines.append(
        _line(
            "scores, grade vs nbgrader",
            f"{len(g.klass.scores) - len(differ)} of {len(g.klass.scores)} submissions get the same total"
            + (
                f"; differ (grade vs nbgrader): {', '.join(differ[:8])}" + (" ..." if len(differ) > 8 else "")
                if differ
                else ""
            ),
        )
    )
    lines.append(_report_line(g))
    if g.profile:
        lines += profile_lines(g.profile, g.one.seconds)
    small = [] if full else [what]
    if g.klass.students < 20:
        small.append(f"{g.klass.students} students")
    targets = {
        "machine_time": _target(machine, TARGET["machine"], ", ".join(small)),
        "one_alone": _target(g.one.seconds, TARGET["one"], "" if full else what),
        "ratio": _ratio_target(machine / plain, 0.5, ", ".join(small)),
    }
    if g.one_assignment:
        targets["assignment_alone"] = _target(max(g.one_assignment.values()), TARGET_ASSIGNMENT)
    if g.hang is not None:
        targets["hang_alone"] = _target(g.hang.seconds, TARGET["hang"], "" if full else what)
    return lines, targets


def _report_line(g: GradingFigures) -> str:
    """The class report of the class run: where it was kept, what it says, and whether its points lost agree
    with the gradebook's."""
    if not g.klass.lost and g.klass.report is None:
        return _line("class report", "not written")
    lost = sum(g.klass.lost.values())
    possible = sum(g.klass.possible.get(a, 0.0) for (_, a) in g.klass.scores)
    differ = g.report_disagreements()
    return _line(
        "class report",
        f"{g.class_report or 'not kept'}: the class lost {lost:g} of {possible:g} points; "
        f"{g.klass.recurring} bugs come back in a later assignment; "
        + (f"differs from the gradebook: {', '.join(differ)}" if differ else "its points lost are the gradebook's"),
    )


def _hang_line(g: GradingFigures) -> str:
    """The line of the student whose every function hangs (not measured: said so)."""
    if g.hang is None:
        return _line("grading, every function hangs", "not measured")
    total = sum(g.hang.scores.values())
    return _line(
        "grading, every function hangs",
        f"{g.hang.seconds:.1f} s wall ({HANGING} alone, grade, {g.hang.jobs} jobs), scored {total:g}"
        + (f"; not graded: {'; '.join(g.hang.problems)}" if g.hang.problems else "")
        + "; by assignment: "
        + ", ".join(f"{a.split('_', 1)[0]} {s:.1f} s" for a, s in g.hang.per_assignment.items()),
    )


def profile_lines(p, measured: float | None = None) -> list[str]:
    """The profile of one student's course as a table (autograder.bench.profile.Profile)."""
    total = p.total
    lines = [
        _line(
            "profile, one student",
            f"{p.student}'s course, worker.grade in-process ({p.threads} BLAS thread{'s' * (p.threads != 1)}): "
            f"{total:.1f} s end to end"
            + (f" (grade measured {measured:.1f} s for it alone)" if measured else "")
            + (f"; not graded: {', '.join(p.statuses)}" if p.statuses else ""),
        ),
        f"  {'step':<44}{'seconds':>8}{'share':>7}  note",
    ]
    for row in p.rows():
        label = ("  " * row.depth + row.label)[:44]
        lines.append(f"  {label:<44}{row.seconds:8.2f}{row.seconds / max(total, 1e-9):7.0%}  {row.note}")
    lines.append(
        "  worker, per assignment: " + ", ".join(f"{a.split('_', 1)[0]} {s:.1f} s" for a, s in p.per_assignment.items())
    )
    return lines
