"""The figure lines the command prints, the targets they are held to, and CI's time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .cost import HIDDEN, VISIBLE, CostFigures
from .grading import GradingFigures
from .machine import Machine
from .notebooks import CellTime, NotebookFigures

SECTIONS = ("cost", "training", "notebooks", "grading", "ci")

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
    "training": ["training"],
    "notebooks": ["hidden tests, solutions", "hidden tests, loops", "slowest ungraded cell"],
    "grading": ["grading, 1 student", "grading, sequential", "grading, parallel", "parallel speed-up"],
    "ci": ["CI"],
}

#: The targets of the benchmark issue: (section, text).
TARGETS = {
    "loop_ratio": ("cost", "fast cost+gradient at least 50x faster than the loop"),
    "bound": ("cost", "fast cost+gradient within 3x of the matmul bound"),
    "training": ("training", "training (400 iterations) under 10 s"),
    "cells_solution": ("notebooks", "every hidden test cell under 1 s with the solutions"),
    "cells_loops": ("notebooks", "every hidden test cell under 5 s with loop implementations"),
    "one_student": ("grading", "grading the whole course for one student under 20 s"),
    "speedup": ("grading", "a class graded in parallel at least 1.7x faster than sequentially"),
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
        t = training
        out.append(
            _line(
                "training",
                f"{t.seconds:.1f} s for {t.iterations} L-BFGS iterations ({t.evaluations} evaluations) on "
                f"{t.patches.shape[1]:,} patches; cost {t.initial_cost:.4f} -> {t.final_cost:.4f}",
            )
        )
        met["training"] = (t.seconds < 10 and t.iterations >= 400, f"{t.seconds:.1f} s")
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
        g = grading_figures
        what = "the whole course" if len(g.assignments) == 6 else ", ".join(g.assignments)
        for key, run in [
            ("grading, 1 student", g.one),
            ("grading, sequential", g.sequential),
            ("grading, parallel", g.parallel),
        ]:
            out.append(
                _line(
                    key,
                    f"{run.seconds:.1f} s for {run.students} student{'s' * (run.students != 1)} x {what}, "
                    f"{run.jobs} at once ({run.seconds / max(run.students, 1):.1f} s per student; one submission of "
                    + ", ".join(f"{a.split('_', 1)[0]} {t:.1f} s" for a, t in run.per_assignment.items())
                    + ")"
                    + (f"; problems: {'; '.join(run.problems)}" if run.problems else ""),
                )
            )
        out.append(
            _line("parallel speed-up", f"{g.speedup:.2f}x ({g.sequential.students} students, {g.parallel.jobs} jobs)")
        )
        full = len(g.assignments) == 6
        met["one_student"] = (
            full and g.one.seconds < 20,
            f"{g.one.seconds:.1f} s" + ("" if full else f" ({what} only)"),
        )
        met["speedup"] = (g.speedup >= 1.7, f"{g.speedup:.2f}x with {g.sequential.students} students")
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
