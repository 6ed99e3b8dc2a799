"""The six assignments, proven end to end with the real nbgrader.

For every assignment in source/:
* release/ is exactly what ``nbgrader generate_assignment`` makes from source/ now;
* release notebooks hold no solution, no hidden test and no ``autograder`` import;
* sample submissions (``autograder.samples``) are graded by ``nbgrader autograde`` in a
  scratch copy of the course, and every test cell's score is asserted:
  - ``solution`` (the source answers): full marks, and no cell of the notebook errors;
  - ``untouched`` (the release as students get it): 0 on every test cell, i.e. every
    release test fails on the stubs;
  - the realistic buggy submissions: exactly the points their bugs cost, and where a sample
    says which words name its bug, its feedback shows them.
"""

from __future__ import annotations

import html
import importlib
import os
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest

from autograder import grading, samples
from autograder.course import COURSE_ROOT, Course
from autograder.grading import Options, Status, gradebook
from autograder.samples import Submission

SOURCE, RELEASE = COURSE_ROOT / "source", COURSE_ROOT / "release"


def _samples() -> dict[str, object]:
    """{assignment name: its autograder.samples module}."""
    out = {}
    for info in pkgutil.iter_modules(samples.__path__):
        module = importlib.import_module(f"autograder.samples.{info.name}")
        out[module.ASSIGNMENT] = module
    return out


ASSIGNMENTS = Course().assignments()
SAMPLES = _samples()


@pytest.fixture(scope="module")
def stale() -> list[str]:
    """What differs between release/ and a fresh generate_assignment of every source/ (one run for all)."""
    return Course().stale_releases(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_what_nbgrader_generates_now(assignment, stale):
    mine = [p for p in stale if p.startswith(f"release/{assignment}/")]
    assert mine == [], "run python -m autograder release"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_no_hidden_test_and_no_autograder(assignment):
    notebooks = list((RELEASE / assignment).glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            text = cell.source
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, f"{path.name}: solution markers"
            assert "HIDDEN TESTS" not in text, f"{path.name}: hidden tests leaked"
            assert "autograder" not in text, f"{path.name}: release notebooks must not use the autograder package"
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                assert "raise NotImplementedError()" in text, f"{path.name}:{meta['grade_id']} stub must raise"
            assert not cell.get("outputs") and not cell.get("execution_count"), f"{path.name}: committed outputs"
    for path in (RELEASE / assignment).rglob("*.py"):
        assert "reference" not in path.read_text(), f"{path} must not carry the reference solution"


def _graded_cells(nb) -> dict[str, float]:
    return {
        c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    }


def _expected(assignment: str) -> dict[str, dict[str, float]]:
    """{student: {grade_id: expected score}} for one assignment's samples, solution and untouched included."""
    sample = SAMPLES[assignment]
    points = _graded_cells(nbformat.read(SOURCE / assignment / sample.NOTEBOOK, as_version=4))
    out = {"solution": points, "untouched": dict.fromkeys(points, 0.0)}
    for student, sub in sample.SUBMISSIONS.items():
        assert isinstance(sub, Submission)
        assert set(sub.scores) <= set(points), f"{student}: unknown test cells {set(sub.scores) - set(points)}"
        out[student] = {**points, **sub.scores}
    return out


@pytest.fixture(scope="module")
def graded_samples(tmp_path_factory) -> tuple[Course, grading.Report]:
    """One scratch course with every assignment and every sample submission, graded by
    ``autograder.grading`` (the instructors' command's code: two students at a time)."""
    work: dict[str, dict] = {}
    for assignment, sample in SAMPLES.items():
        answers = {"solution": {}, "untouched": None} | {s: sub.answers for s, sub in sample.SUBMISSIONS.items()}
        for student, theirs in answers.items():
            work.setdefault(student, {})[assignment] = theirs  # made from release/, as students make it
    # A shorter cell timeout than the course's 120 s: a slow (per-example loop) submission's
    # ungraded training cell in 05 is interrupted sooner.
    config = "\nc.Execute.timeout = 90\n"
    root = Course().scratch(tmp_path_factory.mktemp("samples"), ASSIGNMENTS, config=config, submissions=work)
    report = grading.grade(root, Options(ASSIGNMENTS, jobs=2, check=False))
    failed = [o for o in report.outcomes if o.status != Status.GRADED]
    assert not failed, failed
    return root, report


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_sample_submissions_get_exactly_their_scores(assignment, graded_samples):
    assert assignment in SAMPLES, f"autograder/samples/ has no sample submissions for {assignment}"
    sample = SAMPLES[assignment]
    root, report = graded_samples
    scores = gradebook.scores(root, [assignment])
    kernel = {o.student: o.kernel[Path(sample.NOTEBOOK).stem] for o in report.outcomes if o.assignment == assignment}
    full = _expected(assignment)["solution"]
    for student, expected in _expected(assignment).items():
        # The recorded scores (the isolated pass's): exactly as expected. nbgrader's in-kernel ones, from
        # the visible tests alone (autograder.kernel): a part is lost there only if it is lost here.
        assert scores[student, assignment] == pytest.approx(expected), f"{assignment} / {student}: per-cell scores"
        told = sample.SUBMISSIONS[student].kernel if student in sample.SUBMISSIONS else {}
        for part, points in kernel[student].items():
            if part in told:  # nbgrader runs the cells from the top: a later cell's function is not there yet
                assert points == pytest.approx(told[part]), (assignment, student, part)
                continue
            assert points in (pytest.approx(expected[part]), pytest.approx(full[part])), (assignment, student, part)
    graded = nbformat.read(root.path("autograded", assignment, "solution") / sample.NOTEBOOK, as_version=4)
    errors = [c.source[:60] for c in graded.cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert not errors, f"{assignment}: cells of the solution notebook raise: {errors}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_part_a_sample_bug_costs_says_which_words_name_it(assignment):
    """The table of sample bugs is complete: each part a sample loses names its bug (issue 13)."""
    for student, sub in SAMPLES[assignment].SUBMISSIONS.items():
        lost = {part for part, points in sub.scores.items() if points < _expected(assignment)["solution"][part]}
        assert lost <= set(sub.named), f"{assignment} / {student}: no named words for {sorted(lost - set(sub.named))}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_sample_bugs_are_named_in_their_feedback(assignment, graded_samples):
    """Where a sample says which words name its bug, that part's verdict and the student's feedback show
    them (the hidden checks' diagnosis, or a visible test's message), not only "expected ... got ..."."""
    root, _ = graded_samples
    sample = SAMPLES[assignment]
    for student, sub in sample.SUBMISSIONS.items():
        if sub.named:
            page = (root.path("feedback", assignment, student) / sample.NOTEBOOK.replace(".ipynb", ".html")).read_text()
            graded = nbformat.read(root.path("autograded", assignment, student) / sample.NOTEBOOK, as_version=4)
            said = {
                c.metadata["nbgrader"]["grade_id"]: c.metadata.get("autograder", {})
                .get("isolated", {})
                .get("message", "")
                for c in graded.cells
                if c.metadata.get("nbgrader", {}).get("grade")
            }
            for part, words in sub.named.items():
                assert words in html.unescape(page), f"{assignment} / {student} / {part}: {words!r} not in the feedback"
                if part in sub.scores:  # a part it loses: the words are that part's own message
                    assert words in said[part], f"{assignment} / {student} / {part}: {words!r} not in {said[part]!r}"


def test_the_class_report_names_every_sample_bug(graded_samples):
    """grade's class report of the samples: the gradebook's numbers part by part, and each part a sample loses
    in the row of its bug, with the words that name it (the bug's, or the message the row shows)."""
    from test_class_report import agrees_with_gradebook, row_of

    root, _ = graded_samples
    rows = agrees_with_gradebook(root.root)
    assert "solution" not in {s for r in rows for s in r["student_ids"].split()}
    for assignment, sample in SAMPLES.items():
        for student, sub in sample.SUBMISSIONS.items():
            for part, words in sub.named.items():
                if part in sub.scores:
                    row = row_of(rows, assignment, part, student)
                    assert words in row["bug"] or words in row["example"], (assignment, student, part, row)
                    assert row["notes_section"].startswith("§"), row
            for part in sub.scores:
                assert row_of(rows, assignment, part, student)["kind"] != "no diagnosis", (assignment, student, part)


def test_points_add_up_to_100_over_the_course():
    total = 0.0
    for assignment in ASSIGNMENTS:
        for path in (SOURCE / assignment).glob("*.ipynb"):
            total += sum(_graded_cells(nbformat.read(path, as_version=4)).values())
    if len(ASSIGNMENTS) == 6:
        assert total == 100
    else:
        assert total <= 100


#: "## Part B — forward_pass (7 points)": a part's header, with the points its test cells are worth.
PART_HEADER = re.compile(r"^## (Part \w+) .*\((\d+) points?\)", re.M)


def _readme_points() -> dict[str, int]:
    """{assignment: points} from the README's table of the assignments."""
    rows = re.findall(r"^\| `(\d\d_\w+)` \|.*\| (\d+) \|$", (COURSE_ROOT / "README.md").read_text(), re.M)
    return {name: int(points) for name, points in rows}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_said_are_the_points_graded(assignment):
    """Every part's header says what its test cells are worth; the notebook's total and the README's agree."""
    (path,) = (SOURCE / assignment).glob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    said, graded, part = {}, {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            header = PART_HEADER.match(cell.source)
            part = header.group(1) if header else None
            if header:
                said[part] = int(header.group(2))
        points = cell.metadata.get("nbgrader", {}).get("points")
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert part is not None, f"{assignment}: test cell {cell.metadata['nbgrader']['grade_id']} under no Part"
            graded[part] = graded.get(part, 0) + points
    assert said == graded, assignment
    total = re.search(r"^Points: (\d+) in all\.", nb.cells[0].source, re.M)
    assert total and int(total.group(1)) == sum(graded.values()) == _readme_points()[assignment], assignment


def _visible_test(assignment: str, grade_id: str, function: str, replace: dict[str, str] | None = None) -> dict:
    """A namespace that ran the source's definition of `function` (its text changed by `replace`), then the
    visible part of test cell `grade_id`; raises what the visible test raises."""
    from autograder.course import helper_cell_source

    (path,) = (SOURCE / assignment).glob("*.ipynb")
    cells = nbformat.read(path, as_version=4).cells
    (solution,) = [c.source for c in cells if c.cell_type == "code" and f"def {function}(" in c.source]
    (test,) = [c.source for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    for old, new in (replace or {}).items():
        assert old in solution, old
        solution = solution.replace(old, new)
    namespace: dict = {}
    exec(helper_cell_source(), namespace)
    exec(solution, namespace)
    exec(test.split("### BEGIN HIDDEN TESTS")[0], namespace)
    return namespace


def test_05s_visible_test_catches_a_normalize_patches_that_does_not_clip():
    """Of n values none lies more than sqrt(n - 1) sigma from their mean: an outlier among 10 sits at exactly
    3 sigma, and clipping it changes nothing. The visible test's outlier lies beyond."""
    _visible_test("05_sparse_autoencoder", "normalize_patches_values", "normalize_patches")
    with pytest.raises(AssertionError, match="clipped"):
        no_clip = {"np.clip(p, -s, s) / s": "p / s"}
        _visible_test("05_sparse_autoencoder", "normalize_patches_values", "normalize_patches", no_clip)


def test_the_ungraded_training_and_experiment_of_05_run_with_the_solutions():
    """The cells nbgrader skips (the training, Part G's experiment) run top to bottom on the source's answers.

    The same code on 1,000 patches instead of 10,000 (a tenth of the time); the experiment must show what
    lecture 03 says of it: beta = 3 holds every unit near rho = 0.01, beta = 0 leaves them near 0.5.
    """
    from nbclient import NotebookClient

    folder = SOURCE / "05_sparse_autoencoder"
    nb = nbformat.read(folder / "sparse_autoencoder.ipynb", as_version=4)
    (sampling,) = [cell for cell in nb.cells if "num_patches=10000, rng=0)" in cell.source]
    sampling.source = sampling.source.replace("num_patches=10000", "num_patches=1000")
    env = {name: value for name, value in os.environ.items() if name != "NBGRADER_EXECUTION"}
    # One BLAS thread, as grading gives each kernel: measured on a busy 2-core machine, 17 s against 134 s
    # with OpenBLAS's own threads, which spin against each other in L-BFGS's many small products.
    env |= {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute(
        env=env
    )
    printed = "".join(
        output.get("text", "") for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "skipped" not in printed
    rho_hat = {
        (int(h), float(b)): float(r)
        for h, b, r in re.findall(r"(\d+) hidden units, beta = ([\d.]+): mean rho_hat ([\d.]+)", printed)
    }
    assert set(rho_hat) == {(25, 3.0), (25, 0.0), (100, 3.0)}, printed
    assert rho_hat[25, 3.0] < 0.03 and rho_hat[100, 3.0] < 0.03 and rho_hat[25, 0.0] > 0.3, rho_hat
    images = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= 1 + 3 + 2  # the patches, three feature grids, the histograms and the reconstructions
    # The given training_progress shows each training as it runs (its first line, then every few seconds),
    # and nothing goes to stderr.
    for label in ("", "25 hidden units, beta = 0: ", "100 hidden units, beta = 3: "):
        assert re.search(rf"^{label}iteration 1/400, cost [\d.]+, \d+ s$", printed, re.MULTILINE), printed
    stderr = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr"]
    assert not stderr, stderr


@pytest.mark.parametrize("marker", ["theta = train_sparse_autoencoder(patches", "runs[hidden_size, beta] = train"])
def test_05s_training_cells_run_the_students_optimizer_with_one_blas_thread(monkeypatch, marker):
    """The cell as the student gets it, run with a train_sparse_autoencoder that records the BLAS threads it
    is given (OpenBLAS's own threads spin between L-BFGS's small products: 170-179 s against 4.9 s)."""
    import contextlib
    import time

    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    nb = nbformat.read(RELEASE / "05_sparse_autoencoder" / "sparse_autoencoder.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if marker in c.source]
    threads = []

    def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
        threads.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
        return np.zeros(2 * hidden_size * 64 + hidden_size + 64)

    namespace = {  # what the cells above left (the experiment's cell uses the training cell's imports)
        "np": np,
        "os": os,
        "time": time,
        "threadpool_limits": threadpool_limits,
        "patches": np.full((64, 10), 0.5),
        "train_sparse_autoencoder": train_sparse_autoencoder,
        "sparse_autoencoder_cost": lambda theta, *args: (0.0, theta),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "show_patches": lambda *args, **kwargs: None,
        "training_progress": lambda label="": contextlib.nullcontext(),
        "theta": np.zeros(2 * 25 * 64 + 25 + 64),
    }
    # Two threads around the cell (whatever this machine or OPENBLAS_NUM_THREADS gives), so that the
    # cell's own limit is what brings them to one.
    with threadpool_limits(limits=2, user_api="blas"):
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert blas and set(blas) == {2}, f"no BLAS library loaded, or not limited to 2 threads: {blas}"
        exec(compile(cell.source, "training cell", "exec"), namespace)
        assert threads and all(t == [1] * len(blas) for t in threads), threads
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == blas  # restored after


def test_05s_training_progress_shows_the_cost_and_changes_nothing(capsys):
    """training_progress (given in 05, used by its training cells): a line for the first and the last iteration
    and one every `every` seconds, with the cost there, on stdout only; the same theta as without it; a minimize
    with a callback of its own left alone; scipy.optimize.minimize itself again after the block, error or not."""
    import math

    import numpy as np
    import scipy.optimize

    from autograder import reference

    nb = nbformat.read(SOURCE / "05_sparse_autoencoder" / "sparse_autoencoder.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "given_helpers"]
    namespace = {"np": np, "math": math, "scipy": scipy, "plt": None}  # what the cells above it import
    exec(compile(cell.source, "given_helpers", "exec"), namespace)
    training_progress, minimize = namespace["training_progress"], scipy.optimize.minimize
    data = reference.normalize_patches(np.random.default_rng(0).random((16, 200)))
    plain = reference.train_sparse_autoencoder(data, 5, max_iter=30, rng=0)
    assert capsys.readouterr().out == ""

    with training_progress("run: ", every=0):  # a line for every iteration
        theta = reference.train_sparse_autoencoder(data, 5, max_iter=30, rng=0)
    out, err = capsys.readouterr()
    assert err == "" and np.array_equal(theta, plain)
    lines = out.splitlines()
    assert len(lines) == 30 and all(re.fullmatch(r"run: iteration \d+/30, cost [\d.]+, \d+ s", x) for x in lines), out
    assert [int(re.search(r"iteration (\d+)", x)[1]) for x in lines] == list(range(1, 31))
    final = reference.sparse_autoencoder_cost(theta, 16, 5, 1e-4, 0.01, 3.0, data)[0]
    assert lines[-1].startswith(f"run: iteration 30/30, cost {final:.4f}, ")

    with training_progress():  # the default: the first and the last iteration (this takes well under 2.5 s)
        reference.train_sparse_autoencoder(data, 5, max_iter=30, rng=0)
    assert [x.split(",")[0] for x in capsys.readouterr().out.splitlines()] == ["iteration 1/30", "iteration 30/30"]

    seen = []
    with training_progress():  # a callback of the student's own: left alone
        scipy.optimize.minimize(lambda t: float(t @ t), np.ones(3), method="L-BFGS-B", callback=seen.append)
    assert seen and capsys.readouterr().out == ""
    with pytest.raises(RuntimeError, match="interrupted"), training_progress():
        raise RuntimeError("interrupted")
    assert scipy.optimize.minimize is minimize
