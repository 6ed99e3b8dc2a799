"""The benchmark's pieces on tiny sizes: real behaviour, no timed assertions.

``python -m autograder bench`` compares the fast and the plain cost with a per-example
loop, counts the floating-point operations of one evaluation, times notebooks and grading,
and prints one line per figure. Here: the loop agrees with the reference, the flop count is
right (by hand, and against the products the fast cost really computes), and the command
prints every figure line. That the fast cost agrees with the plain one: tests/test_fast.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from autograder import bench, cli, fast, features, reference
from autograder.course import Course
from autograder.grading import class_report


def _instance(v=8, h=5, m=30, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, 2 * h * v + h + v)  # random biases too
    data = rng.uniform(0.1, 0.9, (v, m))
    return theta, (v, h, 1e-3, 0.1, 3.0, data)


@pytest.mark.parametrize("m", [1, 30])
def test_loop_cost_agrees_with_the_reference(m):
    theta, args = _instance(m=m)
    J_ref, g_ref = reference.sparse_autoencoder_cost(theta, *args)
    J_loop, g_loop = bench.loop_cost(theta, *args)
    assert J_loop == pytest.approx(J_ref, rel=1e-12)
    assert g_loop.shape == g_ref.shape
    assert reference.relative_difference(g_loop, g_ref) < 1e-12


def test_loop_cost_is_the_notes_algorithm_not_a_copy():
    """A bug in the loop's sparsity term would show: beta matters, and the result matches central differences."""
    theta, args = _instance(v=4, h=3, m=6)
    _, grad = bench.loop_cost(theta, *args)
    numeric = reference.numerical_gradient(lambda t: bench.loop_cost(t, *args)[0], theta)
    assert reference.relative_difference(grad, numeric) < 1e-8
    _, no_sparsity = bench.loop_cost(theta, *args[:4], 0.0, args[5])
    assert reference.relative_difference(grad, no_sparsity) > 1e-3


def test_matmul_flops_by_hand():
    # v=3, h=2, m=5: five products of h v m = 30 multiply-adds each, 2 operations per multiply-add.
    assert bench.matmul_flops(3, 2, 5) == 5 * 2 * 30
    assert bench.matmul_flops(64, 25, 10000) == 160_000_000
    assert bench.exp_count(64, 25, 10000) == 890_000


def test_matmul_flops_counts_the_products_the_fast_cost_computes(monkeypatch):
    recorded = []
    matmul = np.matmul

    def counting(a, b, *args, **kwargs):
        a_, b_ = np.asarray(a), np.asarray(b)
        rows = a_.shape[0] if a_.ndim == 2 else 1
        cols = b_.shape[1] if b_.ndim == 2 else 1
        recorded.append(2 * rows * a_.shape[-1] * cols)
        return matmul(a, b, *args, **kwargs)

    v, h, m = 7, 4, 11
    theta, args = _instance(v, h, m)
    monkeypatch.setattr(np, "matmul", counting)
    fast.sparse_autoencoder_cost(theta, *args)
    monkeypatch.undo()
    # The fast cost folds b2 into W2's product and the bias gradients into products with a
    # row of ones: 4 (h + v) m operations on top of the notes' five products.
    assert sum(recorded) == bench.matmul_flops(v, h, m) + 4 * (h + v) * m
    assert len(recorded) == 7


def test_ci_seconds_from_the_log_or_given(tmp_path):
    log = tmp_path / "ci.log"
    log.write_text("== CI took 99 s\n... a second run ...\n== CI took 203 s\n")
    assert bench.ci_seconds(log, None) == (203.0, f"read from {log}")
    assert bench.ci_seconds(log, 150.0) == (150.0, "given with --ci-seconds")
    assert bench.ci_seconds(tmp_path / "missing.log", None) == (None, "not measured")


def test_loop_answers_exist_for_every_assignment():
    for assignment in Course().assignments():
        answers = bench.loop_answers(assignment)
        assert answers and all("for " in src for src in answers.values()), assignment


def _fake_notebooks(assignments, timeout, blas_threads):
    cells = [bench.CellTime(1, None, 0.5), bench.CellTime(2, "a_test", 0.25)]
    return bench.NotebookFigures({a: cells for a in assignments}, {a: cells for a in assignments})


def _fake_surge(jobs=None, step=None):
    return bench.SurgeFigures("03_backprop", 10, 30, 120.0, 4, [20.0] * 12, [5.0] * 30, {"graded": 12}, 5, 150, 40)


def _fake_grading(assignments, students, jobs, feedback, step=None, keep=None):
    work, kinds = bench.class_work(assignments, students)
    per = dict.fromkeys(work, 5.0)
    one = bench.GradingRun("grade", 1, jobs, 9.0, {next(iter(work)): 5.0})
    klass = bench.GradingRun(
        "grade", students, jobs, 50.0, per, scores={(s, a): 1.0 for s in work for a in assignments}
    )
    plain = bench.GradingRun(
        "nbgrader", students, 1, 80.0, per, scores={(s, a): 1.0 for s in work for a in assignments}
    )
    profile = bench.Profile(next(iter(work)), assignments, {"isolated": 1.0, "autograde": 0.5}, {}, [], 2.0)
    hang = bench.GradingRun("grade", 1, jobs, 30.0, {"s000_hangs": 60.0}, scores={("s000_hangs", assignments[0]): 0.0})
    single = {a: 3.0 for a in assignments}
    return bench.GradingFigures(assignments, kinds, one, klass, plain, profile, 20, hang, one_assignment=single)


def test_the_command_prints_every_figure_line(monkeypatch, capsys, tmp_path):
    """cost, training and ci for real on tiny sizes; notebooks and grading (minutes) replaced by canned figures."""
    monkeypatch.setattr(bench, "measure_notebooks", _fake_notebooks)
    monkeypatch.setattr(bench, "measure_grading", _fake_grading)
    monkeypatch.setattr(bench, "measure_surge", _fake_surge)
    log = tmp_path / "ci.log"
    log.write_text("== CI took 203 s\n")
    argv = ["bench", "--patches", "300", "--repeat", "2", "--loop-repeat", "1", "--square", "64"]
    argv += ["--max-iter", "3", "--students", "2", "--assignments", "01_activations", "--ci-log", str(log)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for section in bench.SECTIONS:
        for key in bench.FIGURES[section]:
            assert f"\n{key}:" in f"\n{out}", f"no line for {key!r}:\n{out}"
    assert "203 s (read from" in out and bench.CI_COMMAND in out
    assert "targets:" in out
    for _, text in bench.TARGETS.values():
        assert text in out, text
    assert re.search(r"\ngrading, 1 assignment alone: +at most 3\.0 s wall, submit to feedback written", out)


def test_training_run_counts_evaluations():
    run = features.train(num_patches=200, max_iter=3, seed=0)
    assert run.iterations <= 3 <= run.evaluations
    assert "evaluations" in run.summary()


def test_run_notebook_times_cells_and_names_their_errors(tmp_path):
    import nbformat

    def cell(source, grade_id=None):
        c = nbformat.v4.new_code_cell(source)
        if grade_id:
            c.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 1, "solution": False}
        return c

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        cell("import time, sys"),
        nbformat.v4.new_markdown_cell("text"),
        cell("time.sleep(0.3)", "slow"),
        cell("raise ValueError('wrong')", "raises"),
        cell("print('careful', file=sys.stderr)", "warns"),
        cell("import os\nassert os.environ['OPENBLAS_NUM_THREADS'] == '1'"),  # the kernel got its BLAS threads
    ]
    times = bench.run_notebook(nb, tmp_path, timeout=30, blas_threads=1)
    assert [(c.index, c.grade_id, c.error) for c in times] == [
        (0, None, ""),
        (2, "slow", ""),
        (3, "raises", "ValueError"),
        (4, "warns", "stderr"),
        (5, None, ""),
    ]
    assert times[1].seconds >= 0.3  # it slept that long (no upper bound: the machine may be loaded)


def test_time_assignment_answers_the_source_and_stops_after_the_last_test(monkeypatch):
    seen = []
    monkeypatch.setattr(
        bench.notebooks, "run_notebook", lambda nb, folder, timeout, threads: seen.append((nb, folder)) or []
    )
    answers = bench.loop_answers("05_sparse_autoencoder")
    bench.time_assignment("05_sparse_autoencoder", answers)
    nb, folder = seen[0]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    assert by_id["sparse_autoencoder_cost"].source == answers["sparse_autoencoder_cost"]
    assert "BEGIN HIDDEN TESTS" in by_id["sae_grad_W1"].source  # the source's hidden tests are run
    assert nb.cells[-1].metadata["nbgrader"]["grade"]  # the ungraded training after the last test is skipped
    bench.time_assignment("05_sparse_autoencoder", None)
    assert any("train_sparse_autoencoder(patches" in c.source for c in seen[1][0].cells)  # solutions: every cell


def test_the_class_cycles_through_the_kinds_of_work_and_the_samples():
    from autograder.samples import a01_activations

    assignments = ["01_activations", "06_visualization"]
    work, kinds = bench.class_work(assignments, 9)
    assert list(kinds.values()) == [*bench.KINDS, *bench.KINDS, "perfect"]
    assert all(set(theirs) == set(assignments) for theirs in work.values())  # everyone hands in everything
    by_kind = {k: [s for s in work if kinds[s] == k] for k in bench.KINDS}
    assert all(work[s][a] == {} for s in by_kind["perfect"][:1] for a in assignments)  # the solutions
    assert all(work[s][a] is None for s in by_kind["blank"] for a in assignments)  # the release untouched
    first, second = (work[s]["01_activations"] for s in by_kind["buggy"])
    assert first != second and second == next(iter(a01_activations.SUBMISSIONS.values())).answers
    assert "math.exp" in work[by_kind["crashing"][0]]["01_activations"]["sigmoid_prime"]  # the demo's dan_crash


def test_execute_split_by_the_cells_timestamps():
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("text")] + [nbformat.v4.new_code_cell("x") for _ in range(2)]
    stamps = [("00:00:02", "00:00:03"), ("00:00:03.5", "00:00:05")]
    for cell, (a, b) in zip(nb.cells[1:], stamps):
        cell.metadata["execution"] = {
            "iopub.execute_input": f"2026-12-01T{a}Z",
            "shell.execute_reply": f"2026-12-01T{b}Z",
        }
    from datetime import datetime

    started = datetime.fromisoformat("2026-12-01T00:00:00+00:00")
    # kernel start 2 s, cells 3 s (2.5 s inside them), shutdown: the rest of the 6 s
    assert bench.profile.execute_split(nb, started, 6.0) == (2.0, 3.0, 2.5, 1.0, 2)
    assert bench.profile.execute_split(nbformat.v4.new_notebook(), started, 1.5) == (1.5, 0.0, 0.0, 0.0, 0)


def test_grading_figures_on_a_tiny_class(capsys, tmp_path):
    """The real thing on 3 students (perfect, buggy, blank) x 01: grade alone, the class, plain nbgrader,
    the profile; printed. No timed assertion: what was graded, that the profile's rows add up, and that the
    class's report (kept) gives the gradebook's points lost."""
    figures = bench.measure_grading(["01_activations"], 3, 2, True, keep=tmp_path / "report")
    lines, targets = bench.grading_lines(figures)
    print("\n".join(lines))
    out = "\n".join(lines)
    for key in bench.FIGURES["grading"]:
        assert f"{key}:" in out, key
    assert (figures.one.students, figures.klass.students, figures.plain.students) == (1, 3, 3)
    # The student whose every function hangs: graded (not stopped at the budget), zero on every test cell.
    assert figures.hang.scores == {("s000_hangs", "01_activations"): 0.0} and not figures.hang.problems
    assert set(targets) == {"machine_time", "one_alone", "hang_alone", "ratio", "assignment_alone"}
    # The hand-in alone: graded, its feedback written, as the service's grade does (seconds: printed, not held)
    assert set(figures.one_assignment) == {"01_activations"} and figures.one_assignment["01_activations"] > 0
    assert not figures.klass.problems and not figures.plain.problems
    assert len(figures.klass.scores) == len(figures.plain.scores) == 3
    assert not figures.disagreements(), figures.disagreements()  # plain nbgrader ran the hidden tests too
    assert set(figures.by_kind(figures.klass)) == {"perfect", "buggy", "blank"}
    # The class report of the class run, kept: its points lost are the gradebook's (10 points a submission).
    assert figures.klass.lost["01_activations"] == 30 - sum(figures.klass.scores.values()) > 0
    assert not figures.report_disagreements()
    assert figures.class_report == tmp_path / "report" / "class_report.html" and figures.class_report.is_file()
    rows = class_report.read_csv(tmp_path / "report" / "class_report.csv")
    kept = {s for r in rows for s in r["student_ids"].split()}
    assert kept == {"s002_buggy", "s003_blank"}  # the perfect student lost nothing
    assert re.search(rf"^class report: +{re.escape(str(figures.class_report))}: the class lost ", out, re.M), out
    assert figures.klass.machine_per_student == figures.klass.seconds * 2 / 3
    p = figures.profile
    assert p.student == "s001_perfect" and list(p.per_assignment) == ["01_activations"] and not p.statuses
    assert p.counts["sandbox calls"] > 0 and len(p.execute) == 1 and p.execute[0][4] > 0  # cells ran, timed
    rows = p.rows()
    steps = [r for r in rows if r.depth == 0]
    assert sum(r.seconds for r in steps) == pytest.approx(p.total, abs=1e-6)  # every second counted once
    parts: dict[str, float] = {}
    parent = ""
    for row in rows:
        parent = row.label if row.depth == 0 else parent
        if row.depth:
            parts[parent] = parts.get(parent, 0.0) + row.seconds
    for row in steps:  # a step's parts add up to it
        assert parts.get(row.label, row.seconds) == pytest.approx(row.seconds, abs=1e-6), row.label
    assert not targets["machine_time"][0] and "not comparable" in targets["machine_time"][1]  # 3 students, 01 only
