"""The project's own files describe one environment, and the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement


def _pip_requirements(folder):
    """{package: bound} of folder's pyproject.toml (the course's, or student/'s)."""
    deps = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in deps}


def _conda_requirements(folder):
    """{package: bound} of folder's environment.yml, its pip: list included (not its options or local paths)."""
    env = yaml.safe_load((folder / "environment.yml").read_text())
    out = {}
    pip = [dep for entry in env["dependencies"] if isinstance(entry, dict) for dep in entry.get("pip", [])]
    for dep in env["dependencies"] + [dep for dep in pip if not dep.startswith(("-", "."))]:
        if isinstance(dep, str) and dep not in ("pip",) and not dep.startswith("python"):
            name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups()
            out[name.lower()] = bound.replace(" ", "")
    return out


def test_pyproject_and_environment_yml_list_the_same_packages_and_bounds(course_root):
    pip, conda = _pip_requirements(course_root), _conda_requirements(course_root)
    assert pip == conda
    for name in ("numpy", "scipy", "matplotlib", "jupyterlab", "nbgrader", "nbval", "pytest", "scikit-image"):
        assert pip.get(name, "").startswith(">="), f"{name} needs a tested lower bound"


def _readme_commands(course_root):
    text = (course_root / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_gives_two_commands_ci_runs_the_tests_verbatim_and_the_suite_runs_the_main_job(course_root):
    commands = _readme_commands(course_root)
    assert len(commands) == 2, commands
    main, tests = commands
    assert main.endswith(".venv/bin/python -m autograder demo") and tests.endswith("-m pytest -n 2 --dist loadfile")
    assert main.rsplit("&&", 1)[0] == tests.rsplit("&&", 1)[0]  # the same set-up steps
    ci = (course_root / ".ci" / "run").read_text()
    # CI runs both, verbatim, in that order, each in a newcomer's shell (env -i, a plain PATH).
    assert f"newcomer '{main}'" in ci and f"newcomer '{tests}'" in ci
    assert ci.index(f"newcomer '{main}'") < ci.index(f"newcomer '{tests}'")
    assert 'env -i "${keep[@]}" bash -c "$1"' in ci and "/.venv" not in ci.split("plain_path=", 1)[1].splitlines()[0]
    demo_test = (course_root / "tests" / "test_demo.py").read_text()
    assert '"-m", "autograder", "demo"' in demo_test  # the main job, run by the suite


def test_nbgrader_config_is_a_course_directory(course_root):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    assert config.CourseDirectory.course_id == "sparse-autoencoder"
    assert config.Execute.timeout >= 60  # room for slow but correct (per-example loop) solutions
    assert "raise NotImplementedError()" in config.ClearSolutions.code_stub["python"]


def test_top_level_layout(course_root):
    for name in (
        "notebooks",
        "source",
        "release",
        "autograder",
        "tests",
        "environment.yml",
        "README.md",
        "pyproject.toml",
        "nbgrader_config.py",
        ".ci/run",
    ):
        assert (course_root / name).exists(), name


def test_every_course_spec_function_is_in_the_reference():
    from autograder import reference

    spec = {
        "sigmoid": "(z)",
        "sigmoid_prime": "(z)",
        "tanh": "(z)",
        "tanh_prime": "(z)",
        "initialize_parameters": "(layer_sizes, epsilon=0.01, rng=None)",
        "forward_pass": "(W, b, X, activation='sigmoid')",
        "cost": "(W, b, X, Y, lambda_, activation='sigmoid')",
        "backprop_single_example": "(W, b, x, y, activation='sigmoid')",
        "backprop": "(W, b, X, Y, lambda_, activation='sigmoid')",
        "gradient_descent_step": "(W, b, X, Y, lambda_, alpha, activation='sigmoid')",
        "numerical_gradient": "(J, theta, epsilon=0.0001)",
        "relative_difference": "(a, b)",
        "flatten_parameters": "(W, b)",
        "unflatten_parameters": "(theta, layer_sizes)",
        "normalize_patches": "(patches)",
        "sample_patches": "(images, patch_size=8, num_patches=10000, rng=None)",
        "initialize_sparse_autoencoder": "(hidden_size, visible_size, rng=None)",
        "kl_divergence": "(rho, rho_hat)",
        "sparse_autoencoder_cost": "(theta, visible_size, hidden_size, lambda_, rho, beta, data)",
        "train_sparse_autoencoder": "(data, hidden_size, lambda_=0.0001, rho=0.01, beta=3.0, max_iter=400, rng=None)",
        "max_activation_inputs": "(W1)",
        "display_network": "(A, cols=None)",
    }
    import inspect

    assert set(reference.__all__) == set(spec)
    for name, signature in spec.items():
        assert str(inspect.signature(getattr(reference, name))) == signature, name
        assert getattr(reference, name).__doc__, f"{name} needs a docstring"


@pytest.mark.skipif(shutil.which("ruff") is None and not shutil.which(sys.executable), reason="no ruff")
def test_ruff_finds_nothing(course_root):
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=course_root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
