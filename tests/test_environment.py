"""The project's own files describe one environment, and the README's commands are the ones CI runs."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

#: conda-forge's names of what PyPI has as a package with an extra.
_CONDA_NAMES = {"bleach-with-css": "bleach[css]"}


def _name(requirement: Requirement) -> str:
    """A requirement's package, normalized, with its extras: bleach[css]."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return canonicalize_name(requirement.name) + extras


def _project(folder):
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def _pip_requirements(folder, extras=True):
    """{package: bound} of folder's pyproject.toml (the course's, or student/'s): its dependencies, and those of
    its extras (an extra that names the project itself, as test names cluster, brings nothing more). A bound is
    written as packaging writes a SpecifierSet, its parts sorted ("<7,>=6.4"), as _conda_requirements does."""
    project = _project(folder)
    deps = list(project["dependencies"])
    if extras:
        deps += [d for group in project.get("optional-dependencies", {}).values() for d in group]
    found = [Requirement(d) for d in deps]
    own = canonicalize_name(project["name"])
    return {_name(r): str(r.specifier) for r in found if canonicalize_name(r.name) != own}


def _conda_requirements(folder):
    """{package: bound} of folder's environment.yml, its pip: list included (not its options or local paths)."""
    env = yaml.safe_load((folder / "environment.yml").read_text())
    out = {}
    pip = [dep for entry in env["dependencies"] if isinstance(entry, dict) for dep in entry.get("pip", [])]
    for dep in env["dependencies"] + [dep for dep in pip if not dep.startswith(("-", "."))]:
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups() if isinstance(dep, str) else ("", "")
        if name not in ("", "pip", "python"):
            out[_CONDA_NAMES.get(name.lower(), canonicalize_name(name))] = str(SpecifierSet(bound.replace(" ", "")))
    return out


def test_pyproject_and_environment_yml_list_the_same_packages_and_bounds(course_root):
    """environment.yml is the whole of pyproject.toml for conda: its dependencies and every extra's."""
    pip, conda = _pip_requirements(course_root), _conda_requirements(course_root)
    assert pip == conda
    for name in ("numpy", "scipy", "matplotlib", "jupyterlab", "nbgrader", "nbval", "pytest", "scikit-image"):
        assert any(s.operator == ">=" for s in SpecifierSet(pip.get(name, ""))), f"{name} needs a tested lower bound"
    assert all(any(s.operator == ">=" for s in SpecifierSet(bound)) for bound in pip.values()), pip


def _imports(path):
    """{(top-level module, whether at import time)} of a Python file: at import time unless inside a function."""
    tree = ast.parse(path.read_text())
    lazy = {
        id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], id(node) not in lazy) for name in names}
    return found


def _third_party(course_root, files):
    """{distribution: {(file, whether imported at import time)}} of what files import from outside the standard
    library and the course's own modules (those of autograder/, tests/ and notebooks/)."""
    from importlib.metadata import packages_distributions

    distributions = packages_distributions()
    ours = {"autograder", "__future__"} | {
        p.stem for kind in ("tests", "notebooks") for p in (course_root / kind).glob("*.py")
    }
    found: dict[str, set] = {}
    for path in files:
        for module, eager in _imports(path):
            if module in sys.stdlib_module_names or module in ours:
                continue
            for distribution in distributions.get(module, [module]):
                found.setdefault(canonicalize_name(distribution), set()).add((path.relative_to(course_root), eager))
    return found


def test_every_package_the_course_imports_is_declared(course_root):
    """The course's code (autograder/, deploy/, notebooks/*.py) imports only what pyproject.toml's dependencies
    declare, but for the cluster extra's, imported inside the functions that need it (--scheduler); the tests import
    what the dependencies and the extras declare."""
    project = _project(course_root)
    declared = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    cluster = {canonicalize_name(Requirement(d).name) for d in project["optional-dependencies"]["cluster"]}
    everything = {canonicalize_name(Requirement(d).name) for d in _pip_requirements(course_root)}
    code = [
        *(course_root / "autograder").rglob("*.py"),
        *(p for p in (course_root / "deploy").rglob("*.py") if "node_modules" not in p.parts),
        *(course_root / "notebooks").glob("*.py"),
    ]
    imported = _third_party(course_root, code)
    assert {"nbformat", "nbconvert", "nbclient", "traitlets", "jupyter-client", "sqlalchemy", "bleach"} <= set(imported)
    undeclared = {d: sorted(map(str, where)) for d, where in imported.items() if d not in declared | cluster}
    assert not undeclared, f"imported, not in pyproject.toml's dependencies: {undeclared}"
    eager = {d: sorted(str(p) for p, at_import in where if at_import) for d, where in imported.items() if d in cluster}
    assert not any(eager.values()), f"the cluster extra's, imported as the course's code is imported: {eager}"
    from_tests = _third_party(course_root, (course_root / "tests").glob("*.py"))
    undeclared = {d: sorted(str(p) for p, _ in where) for d, where in from_tests.items() if d not in everything}
    assert not undeclared, f"the tests import what pyproject.toml declares nowhere: {undeclared}"


def _readme_commands(course_root):
    text = (course_root / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_gives_two_commands_ci_runs_the_tests_verbatim_and_the_suite_runs_the_main_job(course_root):
    commands = _readme_commands(course_root)
    assert len(commands) == 2, commands
    main, tests = commands
    assert main.endswith(".venv/bin/python -m autograder demo") and tests.endswith("-m pytest -n 2 --dist loadfile")
    # the same set-up steps, the tests' with the test extra (pytest and the rest: pyproject.toml)
    assert main.rsplit("&&", 1)[0].replace("install -e . ", 'install -e ".[test]" ') == tests.rsplit("&&", 1)[0]
    assert "install -e . " in main and "[test]" not in main
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
