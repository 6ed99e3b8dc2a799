"""The benchmark's pieces on tiny sizes: real behaviour, no timed assertions.

``python -m autograder bench`` compares the fast and the plain cost with a per-example
loop, counts the floating-point operations of one evaluation, times notebooks and grading,
and prints one line per figure. Here: the loop agrees with the reference, the flop count is
right (by hand, and against the products the fast cost really computes), and the command
prints every figure line. That the fast cost agrees with the plain one: tests/test_fast.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder import bench, cli, fast, features, reference
from autograder.course import Course


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


def _fake_grading(assignments, students, jobs, feedback):
    runs = [bench.GradingRun(n, j, s, []) for n, j, s in [(1, 1, 10.0), (students, 1, 40.0), (students, jobs, 22.0)]]
    return bench.GradingFigures(assignments, *runs)


def test_the_command_prints_every_figure_line(monkeypatch, capsys, tmp_path):
    """cost, training and ci for real on tiny sizes; notebooks and grading (minutes) replaced by canned figures."""
    monkeypatch.setattr(bench, "measure_notebooks", _fake_notebooks)
    monkeypatch.setattr(bench, "measure_grading", _fake_grading)
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
