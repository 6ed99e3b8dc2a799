"""The course directory and nbgrader's Python API, loaded once per process.

nbgrader's command line pays about 4-8 s of start-up per call; its Python API
(``NbGraderAPI``) pays it once, then generates an assignment in about 0.5 s.
Everything here goes through that API, so the behaviour is nbgrader's own.
"""

from __future__ import annotations

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent.parent


def nbgrader_api(root: str | Path = COURSE_ROOT):
    """An ``NbGraderAPI`` for the course at root, configured by its ``nbgrader_config.py``."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def source_assignments(root: str | Path = COURSE_ROOT) -> list[str]:
    """Names of the assignments in source/ (folders holding at least one notebook), sorted."""
    source = Path(root) / "source"
    if not source.is_dir():
        return []
    return sorted(d.name for d in source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))


class NbgraderError(RuntimeError):
    """An nbgrader step failed. ``str()`` is one line (what failed, and nbgrader's last word);
    ``log`` is nbgrader's whole log."""

    def __init__(self, what: str, log: str = ""):
        self.what, self.log = what, log
        super().__init__(f"{what} failed" + (f": {last_error(log)}" if log.strip() else ""))


def last_error(log: str) -> str:
    """The line of a log that names the error (``FileNotFoundError: … 'alembic'``), else its last line."""
    import re

    lines = [line.strip() for line in log.splitlines() if line.strip()]
    named = [
        line for line in lines if re.match(r"[\w.]*(Error|Exception|Exit)\b:", line) and "NbGraderException" not in line
    ]
    return (named or lines or [""])[-1][:300]


def checked(result: dict, what: str) -> dict:
    """Raise NbgraderError unless an NbGraderAPI result says success."""
    if not result.get("success"):
        raise NbgraderError(what, f"{result.get('log', '')}\n{result.get('error', '')}")
    return result


def release(names: list[str] | None = None, root: str | Path = COURSE_ROOT, api=None) -> list[str]:
    """``generate_assignment --force --create`` for each assignment (default: all of source/)."""
    names = names or source_assignments(root)
    api = api or nbgrader_api(root)
    for name in names:
        checked(api.generate_assignment(name, force=True, create=True), f"nbgrader generate_assignment {name}")
    return names


def student_answer(solution: str) -> str:
    """What a student who wrote the solution typed into a release answer cell.

    ``generate_assignment`` replaces the lines between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION`` with the stub; the student replaces the stub with their code. So the
    answer is the source cell without its two marker lines (a cell without markers, which
    nbgrader replaces whole, is its own answer).
    """
    lines = solution.splitlines(keepends=True)
    kept = [line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "".join(kept).rstrip("\n") if len(kept) != len(lines) else solution


def fill_answers(source_nb, release_nb, answers: dict[str, str] | None):
    """A student's notebook: the release with its answer cells filled in, as a student would.

    answers: {grade_id of an answer cell: the student's source}; answer cells not
    named get the solution of source_nb as a student types it (``student_answer``: no
    solution markers); None leaves the release untouched.
    """
    import copy

    nb = copy.deepcopy(release_nb)
    if answers is None:
        return nb
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source_nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    unknown = set(answers) - set(solutions)
    if unknown:
        raise ValueError(f"no answer cell has the grade_id {sorted(unknown)}")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = answers.get(meta["grade_id"], student_answer(solutions[meta["grade_id"]]))
    return nb


def scratch_course(dest: str | Path, assignments: list[str], root: str | Path = COURSE_ROOT, config: str = "") -> Path:
    """A new nbgrader course at dest: root's ``nbgrader_config.py`` (plus the lines config),
    ``source/`` of the assignments, and ``release/`` generated from it by nbgrader. Returns dest."""
    import shutil

    dest, root = Path(dest), Path(root)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "nbgrader_config.py").write_text((root / "nbgrader_config.py").read_text() + config)
    for a in assignments:
        shutil.copytree(root / "source" / a, dest / "source" / a)
    release(assignments, dest)
    return dest


def submit(root: str | Path, student: str, assignment: str, answers: dict[str, str] | None) -> Path:
    """Put a student's submission in root/submitted/<student>/<assignment>/, made as students make it.

    Every file of release/<assignment>/ is copied (the data files that ship with it), and each
    notebook is the release notebook with its answer cells filled in (``fill_answers``: the
    source's solution for cells not in answers; None: the release untouched). Returns the folder.
    """
    import shutil

    import nbformat

    root = Path(root)
    released, folder = root / "release" / assignment, root / "submitted" / student / assignment
    shutil.copytree(released, folder)
    for path in sorted(folder.glob("*.ipynb")):
        source_nb = nbformat.read(root / "source" / assignment / path.name, as_version=4)
        release_nb = nbformat.read(path, as_version=4)
        nbformat.write(fill_answers(source_nb, release_nb, answers), path)
    return folder
