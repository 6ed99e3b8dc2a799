"""The student environment (student/): complete, and nothing of the instructor's.

* its two files (student/pyproject.toml for pip, student/environment.yml for conda) list the same packages
  and bounds, and every module a release notebook imports is the standard library's or one of them;
* built in a fresh virtual environment (``pip install ./student``, as the README says), it has no
  ``autograder``, turns off nbgrader's instructor tools and JupyterLab's news pop-up, and runs every release
  notebook top to bottom with the solutions typed in (05's training and experiment included), in a kernel of
  that environment; nbgrader's ``validate`` (the Validate button's code, with its default 30 s per cell)
  passes each of them there too, and fails a notebook with a wrong answer.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from test_environment import _conda_requirements, _pip_requirements

from autograder.course import COURSE_ROOT, Course, fill_answers

STUDENT = COURSE_ROOT / "student"
RELEASE = COURSE_ROOT / "release"

#: The import name of each student package that a notebook may import (the rest serve JupyterLab).
IMPORTED_AS = {"numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib", "threadpoolctl": "threadpoolctl"}
#: What the student environment turns off: nbgrader's instructor side and JupyterLab's news.
DISABLED_LAB = {
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyterlab/apputils-extension:announcements",
}
DISABLED_SERVER = {"nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"}
STUDENT_SERVER = {"nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.validate_assignment"}


def _release_notebooks() -> list[Path]:
    return sorted(RELEASE.glob("*/*.ipynb"))


def _imported_modules(path: Path) -> set[str]:
    from IPython.core.inputtransformer2 import TransformerManager  # cells may hold magics (%timeit)

    names = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_pip_and_conda_files_list_the_same_packages_and_bounds():
    assert _pip_requirements(STUDENT) == _conda_requirements(STUDENT)
    env = yaml.safe_load((STUDENT / "environment.yml").read_text())
    assert {"pip": ["."]} in env["dependencies"], "environment.yml must install student/ itself (its Jupyter config)"
    python = tomllib.loads((STUDENT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f"python{python}" in env["dependencies"]


def test_every_module_a_release_notebook_imports_is_the_standard_librarys_or_a_student_package():
    packages = _pip_requirements(STUDENT)
    assert {"jupyterlab", "nbgrader"} <= set(packages)  # the notebook server and the Validate button
    assert not {"autograder", "sparse-autoencoder-course", "pytest", "scikit-image"} & set(packages)
    seen = set()
    for path in _release_notebooks():
        for module in _imported_modules(path):
            seen.add(module)
            assert module in sys.stdlib_module_names or module in IMPORTED_AS.values(), (
                f"{path.relative_to(COURSE_ROOT)} imports {module}, which the student environment does not install"
            )
    for package, module in IMPORTED_AS.items():
        assert package in packages, package
        assert module in seen, f"{package} is in the student environment, but no release notebook imports it"


def test_the_jupyter_configuration_turns_off_the_instructor_tools_and_the_news():
    lab = json.loads((STUDENT / "etc/jupyter/labconfig/page_config.d/sparse-autoencoder-student.json").read_text())
    assert {k for k, v in lab["disabledExtensions"].items() if v} == DISABLED_LAB
    server = json.loads((STUDENT / "etc/jupyter/jupyter_server_config.d/sparse-autoencoder-student.json").read_text())
    assert {k for k, v in server["ServerApp"]["jpserver_extensions"].items() if not v} == DISABLED_SERVER


# --------------------------------------------------------------------------- the environment, built


def oldest_python() -> Path | None:
    """The oldest supported Python this machine has, with venv: 3.10, else 3.11 (NumPy 1.24, the oldest
    supported, has wheels up to 3.11). On PATH (python3.10) or under ~/.pyenv/versions (this image's)."""
    for minor in (10, 11):
        found = [shutil.which(f"python3.{minor}")]
        found += sorted(Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3.{minor}"), reverse=True)
        for candidate in filter(None, found):
            probe = subprocess.run([candidate, "-c", "import venv, ensurepip"], capture_output=True)
            if probe.returncode == 0:
                return Path(candidate)
    return None


def _pip(python: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *args], capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, f"pip install {' '.join(args)}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


_BUILT: dict[str, Path] = {}


def hub_student_venv() -> Path:
    """The student environment of the course's hub (deploy/jupyterhub/up.py's ``student_venv``: ``pip install
    ./student jupyterhub``, from a copy), built in build/hub/student-venv unless it is built from the same files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hub_up", COURSE_ROOT / "deploy" / "jupyterhub" / "up.py")
    up = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(up)
    return up.student_venv(COURSE_ROOT / "build" / "hub" / "student-venv")


def _student_env(kind: str, tmp_path_factory) -> Path:
    """A venv with `pip install ./student` (from a copy, so the build leaves nothing in the checkout):
    "newest", the newest releases on this Python (the hub's, which adds jupyterhub: ``hub_student_venv``);
    "oldest", the oldest supported set (student/oldest.txt) on the oldest supported Python the machine has,
    with nbval and pytest for the lecture notebooks. Built once per session; the interpreter's path."""
    if kind in _BUILT:
        return _BUILT[kind]
    if kind == "newest":  # the hub's (pip install ./student jupyterhub), shared with tests/test_hub.py: one build
        _BUILT[kind] = hub_student_venv() / "bin" / "python"
        return _BUILT[kind]
    base = Path(sys.executable)
    if kind == "oldest":
        base = oldest_python()
        if base is None:
            pytest.skip("no Python 3.10 or 3.11 with venv on PATH or under ~/.pyenv/versions: the oldest set untested")
    root = tmp_path_factory.mktemp(f"student-env-{kind}")
    shutil.copytree(STUDENT, root / "student", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run([str(base), "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    if kind == "oldest":
        _pip(python, "-c", str(STUDENT / "oldest.txt"), str(root / "student"))
        _pip(python, "-c", str(STUDENT / "oldest.txt"), "nbval", "pytest")
        versions = _versions(python)
        for line in _oldest():
            name, version = line.split("==")
            assert re.fullmatch(version.replace(".", r"\.").replace("*", r"\d+"), versions[name]), (name, versions)
    else:
        _pip(python, str(root / "student"))
    _BUILT[kind] = python
    return python


@pytest.fixture(scope="module", params=["newest", "oldest"])
def student_python(request, tmp_path_factory) -> Path:
    return _student_env(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def oldest_student_python(tmp_path_factory) -> Path:
    return _student_env("oldest", tmp_path_factory)


def _oldest() -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in (STUDENT / "oldest.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def _versions(python: Path) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def test_the_oldest_set_is_the_lower_bounds():
    """student/oldest.txt pins each package of the student environment to its lower bound's release."""
    floors = {name: bound.removeprefix(">=") for name, bound in _pip_requirements(STUDENT).items()}
    pins = dict(line.split("==") for line in _oldest())
    assert set(pins) == set(floors), (pins, floors)
    for name, pin in pins.items():
        assert pin in (floors[name], floors[name] + ".*"), f"{name}: oldest.txt has {pin}, the bound is {floors[name]}"


def _clean_env(home: Path) -> dict:
    """A student's environment: a HOME of their own, no Jupyter or nbgrader variable of this process."""
    home.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER", "PYTHON", "VIRTUAL_ENV"))}
    keep.pop("OPENBLAS_NUM_THREADS", None)  # 05's training cell limits BLAS threads itself
    return keep | {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"}


def _run(python: Path, code: str, cwd: Path, env: dict, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_student_environment_has_no_autograder_and_the_student_configuration(student_python, tmp_path):
    env = _clean_env(tmp_path / "home")
    code = """
import importlib.util, json
from jupyterlab_server.config import get_static_page_config
from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
server = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
import numpy, scipy.optimize
from threadpoolctl import threadpool_info, threadpool_limits
blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
with threadpool_limits(limits=1, user_api="blas"):
    limited = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({
    "autograder": importlib.util.find_spec("autograder") is not None,
    "disabled": sorted(k for k, v in get_static_page_config().get("disabledExtensions", {}).items() if v),
    "server": {k: v for k, v in server.items() if k.startswith("nbgrader")},
    "blas": blas,
    "limited": limited,
}))
"""
    proc = _run(student_python, code, tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["autograder"] is False
    assert set(found["disabled"]) == DISABLED_LAB
    assert {k for k, v in found["server"].items() if v} == STUDENT_SERVER, found["server"]
    assert {k for k, v in found["server"].items() if not v} == DISABLED_SERVER, found["server"]
    # 05's training cell limits NumPy's and SciPy's BLAS to one thread with threadpoolctl: it must see them
    # (threadpoolctl before 3.5 sees no BLAS of NumPy 2's wheels, and the limit silently does nothing).
    assert found["blas"] and found["limited"] == [1] * len(found["blas"]), found


def _filled_release(dest: Path, answers: dict | None = None) -> list[Path]:
    """Every release assignment folder copied into dest, each notebook with the solutions typed in."""
    course = Course()
    paths = []
    for folder in sorted(p for p in RELEASE.iterdir() if p.is_dir()):
        shutil.copytree(folder, dest / folder.name)
        for path in sorted((dest / folder.name).glob("*.ipynb")):
            source = nbformat.read(course.path("source", folder.name) / path.name, as_version=4)
            release = nbformat.read(path, as_version=4)
            mine = {
                k: v
                for k, v in (answers or {}).items()
                if any(c.metadata.get("nbgrader", {}).get("grade_id") == k for c in release.cells)
            }
            nbformat.write(fill_answers(source, release, mine), path)
            paths.append(path)
    return paths


RUN_ALL = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
# First, in the kernel: which Python runs it, and whether the grader's package is there.
nb.cells.insert(0, nbformat.v4.new_code_cell(
    "import sys, importlib.util\\nprint('KERNEL', sys.prefix, importlib.util.find_spec('autograder') is not None)"))
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
for cell in nb.cells:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            print(output["text"], end="")
"""


def test_every_release_notebook_runs_top_to_bottom_with_the_solutions(student_python, tmp_path):
    env = _clean_env(tmp_path / "home")
    prefix = subprocess.run(
        [str(student_python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in _filled_release(tmp_path / "course"):
        proc = subprocess.run(
            [str(student_python), "-c", RUN_ALL, str(path), str(path.parent)],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        name = path.relative_to(tmp_path / "course")
        assert proc.returncode == 0, f"{name} failed in the student environment:\n{proc.stderr[-4000:]}"
        assert f"KERNEL {prefix} False" in proc.stdout, f"{name}: not the student environment's kernel:\n{proc.stdout}"
        assert "skipped" not in proc.stdout, f"{name}: a cell skipped its work:\n{proc.stdout}"
        if path.parent.name == "05_sparse_autoencoder":
            trained = re.findall(r"trained in ([\d.]+) s, J_sparse = ([\d.]+)", proc.stdout)
            assert len(trained) == 1 and float(trained[0][1]) < 1.0, proc.stdout
            assert len(re.findall(r"hidden units, beta = [\d.]+: trained in", proc.stdout)) == 2, proc.stdout
            # The given training_progress, with this environment's SciPy (1.10 passes its callback theta alone):
            # each of the three trainings shows its first iteration and its cost.
            first = re.findall(r"^(?:.*: )?iteration 1/400, cost [\d.]+, \d+ s$", proc.stdout, re.MULTILINE)
            assert len(first) == 3, proc.stdout


VALIDATE = ["-m", "nbgrader", "validate"]  # the Validate button's code, nbgrader's defaults


def test_nbgrader_validate_passes_every_notebook_with_the_solutions_and_fails_a_wrong_one(
    student_python, tmp_path, request
):
    """Every notebook with the newest set; 01 alone with the oldest, whose notebooks the run above covers (CI's
    time), where it proves the oldest nbgrader's validate."""
    env = _clean_env(tmp_path / "home")
    wrong = {"sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(z))"}
    every = request.node.callspec.params["student_python"] == "newest"
    for answers, course in [({}, "right"), (wrong, "wrong")]:
        for path in _filled_release(tmp_path / course, answers):
            if (answers or not every) and path.parent.name != "01_activations":
                continue
            proc = subprocess.run(
                [str(student_python), *VALIDATE, path.name],
                cwd=path.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            said = proc.stdout + proc.stderr
            name = f"{course}/{path.parent.name}"
            if answers:
                assert "VALIDATION FAILED" in said, f"{name}:\n{said}"
                assert "sigmoid" in said, f"{name}: the failure does not name the part:\n{said}"
            else:
                assert "Success! Your notebook passes all the tests." in said, f"{name}:\n{said}"


def test_the_lecture_notebooks_pass_nbval_strict_with_the_oldest_set(oldest_student_python):
    """notebooks/ (both editions), every stored output compared, on the oldest NumPy, SciPy and Matplotlib
    (the default environment's run is tests/test_notebooks.py's)."""
    from test_notebooks import ALL, NOTEBOOKS, _code_cells, _nbval

    result = _nbval([NOTEBOOKS], cwd=COURSE_ROOT, python=oldest_student_python)
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    cells = sum(len(_code_cells(path)) for path in ALL)
    assert re.search(rf"\b{cells} passed\b", result.stdout), report
