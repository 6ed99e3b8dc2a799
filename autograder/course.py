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
    """An nbgrader step failed; the message carries nbgrader's own log."""


def checked(result: dict, what: str) -> dict:
    """Raise NbgraderError unless an NbGraderAPI result says success."""
    if not result.get("success"):
        raise NbgraderError(f"{what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
    return result


def release(names: list[str] | None = None, root: str | Path = COURSE_ROOT, api=None) -> list[str]:
    """``generate_assignment --force --create`` for each assignment (default: all of source/)."""
    names = names or source_assignments(root)
    api = api or nbgrader_api(root)
    for name in names:
        checked(api.generate_assignment(name, force=True, create=True), f"nbgrader generate_assignment {name}")
    return names


def fill_answers(source_nb, release_nb, answers: dict[str, str] | None):
    """A student's notebook: the release with its answer cells filled in.

    answers: {grade_id of an answer cell: the student's source}; answer cells not
    named get the solution from source_nb; None leaves the release untouched.
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
            cell.source = answers.get(meta["grade_id"], solutions[meta["grade_id"]])
    return nb
