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
