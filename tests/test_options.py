"""One source for a grading run's settings: Options' fields give the command line its defaults and reach the
worker whole (issue 30, item 6)."""

from __future__ import annotations

from pathlib import Path

from autograder import cli, formgrader
from autograder.grading import worker
from autograder.options import DEFAULTS, Options
from autograder.sandbox import Limits


def test_the_command_lines_defaults_are_the_options():
    args = cli.build_parser().parse_args(["grade"])
    assert (args.timeout, args.call_timeout) == (DEFAULTS.timeout, DEFAULTS.call_timeout)
    assert DEFAULTS.call_timeout == Limits().call_seconds  # the sandbox's budget per call, the run's default
    assert formgrader.TIMEOUT == DEFAULTS.timeout
    plain = worker.parser().parse_args(["--course=c", "--scratch=s", "--results=r", "--student=x", "a"])
    assert plain.options == DEFAULTS


def test_options_reach_the_worker_whole():
    options = Options(
        assignments=["01_activations"],
        students=("ada",),
        jobs=3,
        feedback=False,
        csv=Path("/tmp/grades.csv"),
        call_timeout=None,
        worker_memory=2**30,
        scheduler="tcp://127.0.0.1:8786",
    )
    assert Options.from_json(options.to_json()) == options
    flag = f"--options={options.to_json()}"
    got = worker.parser().parse_args(["--course=c", "--scratch=s", "--results=r", "--student=ada", flag, "a"])
    assert got.options == options and not got.options.isolated


def test_a_worker_whose_sandbox_will_not_start_grades_nothing_unless_unsafe(tmp_path, monkeypatch):
    """The grader checks the sandbox before it starts a worker; if the worker's own probe then fails (a start
    past its budget on a loaded machine), nbgrader's kernel would run unsandboxed: the worker refuses instead,
    in one line per assignment. (An attack review's finding, 2026-12-07.)"""
    import json

    from autograder import kernel
    from autograder.course import Course

    monkeypatch.setattr(kernel, "available", lambda: False)
    results = tmp_path / "results"
    results.mkdir()
    worker.grade(Course(tmp_path), Course(tmp_path), "ada", ["01_activations"], results, Options())
    said = json.loads((results / "01_activations.json").read_text())
    assert said["status"] == "failed" and "the sandbox could not start in the grading worker" in said["detail"]
