"""The course directory: an nbgrader course (``nbgrader_config.py``, ``source/``, ``release/``,
``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``) and nbgrader's Python API on it.

``Course`` is the one place that knows the layout: the command line releases with it, grading
checks and reads it, and the demo class, the benchmark and the test fixtures build scratch
copies with submissions through ``Course.scratch``; and which lecture notebooks (``notebooks/``)
each assignment's release carries to students (``SECTION_LECTURES``). Everything that makes or
reads notebooks goes through nbgrader's Python API (``NbGraderAPI``, loaded once per ``Course``),
so the behaviour is nbgrader's own.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import cells

COURSE_ROOT = Path(__file__).resolve().parent.parent

#: The read-only helper cell that explains a mismatch (``check_close``): its one source, and its grade_id.
HELPER = Path(__file__).resolve().parent / "student_helper.py"
HELPER_ID = "given_explain"
HELPER_MARKER = "# ---- notebook cell ----\n"
#: The helper cell's ``jupyter`` metadata: its source collapsed when the student opens the notebook.
HELPER_HIDDEN = {"source_hidden": True}


def helper_cell_source() -> str:
    """The text of every ``given_explain`` cell: what follows the marker line of student_helper.py."""
    text = HELPER.read_text()
    return text[text.index(HELPER_MARKER) + len(HELPER_MARKER) :].strip("\n")


#: The lecture notebooks (``notebooks/<name>.ipynb``, and their Chinese editions ``notebooks/zh/<name>.ipynb``)
#: that each assignment carries to students, in ``release/<assignment>/lectures/`` (and ``lectures/zh/``):
#: nbgrader's exchange hands students nothing but assignment folders. Every assignment carries the course's
#: introduction and its notation, and the lecture of its own section of the notes, as the table of
#: ``01_introduction`` pairs them: these include every lecture an assignment's text names. Not all seven with
#: each: a hand-in is the whole folder, and the exchange and ``submitted/`` keep every one.
COURSE_LECTURES = ("01_introduction", "05_notation")
SECTION_LECTURES = {
    "01_activations": ("02_1_neural_networks",),
    "02_forward_pass": ("02_1_neural_networks",),
    "03_backprop": ("02_2_backpropagation",),
    "04_gradient_checking": ("02_3_gradient_checking",),
    "05_sparse_autoencoder": ("03_autoencoders_and_sparsity",),
    "06_visualization": ("04_visualization",),
}
#: Where the lectures go in an assignment's release folder, and where the course keeps them.
LECTURES, LECTURE_SOURCE = "lectures", "notebooks"

#: The graded functions of earlier assignments that an assignment's release gives students in working form
#: (its given cells define them, for its own parts to build on): {assignment: {earlier assignment: (those of
#: its graded functions)}}. Releasing an assignment hands these solutions out, so it is released only once
#: each earlier assignment named here is past its due date: ``OrderedReleaseAssignment`` (autograder/exchange.py)
#: refuses otherwise. An assignment not named gives none (01, 06). ``Course.earlier_solutions`` reads the same
#: from release/, and tests/test_release_order.py holds the two equal. Besides these names, 04 gives both
#: derivatives, written in terms of a = f(z) (``_f_and_fprime``), and a two-layer sigmoid backprop
#: (``backprop_fixed``); 03 a central-difference gradient of J (``numeric_gradient``, 04's idea before 04).
EARLIER_SOLUTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "02_forward_pass": {"01_activations": ("sigmoid", "tanh")},
    "03_backprop": {
        "01_activations": ("sigmoid", "sigmoid_prime", "tanh", "tanh_prime"),
        "02_forward_pass": ("forward_pass",),
    },
    "04_gradient_checking": {
        "01_activations": ("sigmoid",),
        "02_forward_pass": ("forward_pass",),
        "03_backprop": ("cost", "backprop"),
    },
    "05_sparse_autoencoder": {
        "01_activations": ("sigmoid",),
        "04_gradient_checking": ("numerical_gradient",),
    },
}


#: A student's answers to one assignment: {grade_id of an answer cell: the source they typed}.
#: A cell not named gets the solution as a student types it; a cell named with None is left as
#: released (a part left blank). None for the whole assignment: the release untouched.
Answers = Mapping[str, str | None] | None


#: A student id grading accepts: the name of a folder of submitted/. Letters (any script), digits,
#: ``.``, ``_``, ``@`` and ``-``, starting with a letter or digit: no space, comma, quote or control
#: character, which would reach the CSV and the table as they are, nothing argparse or nbgrader
#: reads otherwise (``--``, a trailing space).
PLAIN_STUDENT = re.compile(r"[^\W_][\w.@-]{0,99}")


def plain_student(name: str) -> bool:
    return PLAIN_STUDENT.fullmatch(name) is not None


class CourseError(RuntimeError):
    """The course is not in a state for the command; the message says what to run."""


class NbgraderError(RuntimeError):
    """An nbgrader step failed. ``str()`` is one line (what failed, and nbgrader's last word);
    ``log`` is nbgrader's whole log."""

    def __init__(self, what: str, log: str = ""):
        self.what, self.log = what, log
        super().__init__(f"{what} failed" + (f": {last_error(log)}" if log.strip() else ""))


def last_error(log: str) -> str:
    """The line of a log that names the error (``FileNotFoundError: … 'alembic'``), else its last line."""
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


@dataclass(frozen=True)
class Course:
    """The nbgrader course directory at root (default: this repository)."""

    root: Path = COURSE_ROOT

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())

    # ----------------------------------------------------------------------- layout

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    def path(self, kind: str, assignment: str, student: str | None = None) -> Path:
        """nbgrader's folder of one assignment: ``kind/assignment`` (source, release) or
        ``kind/student/assignment`` (submitted, autograded, feedback)."""
        return self.root / kind / assignment if student is None else self.root / kind / student / assignment

    def assignments(self) -> list[str]:
        """The assignments of source/ (folders holding at least one notebook), sorted."""
        source = self.root / "source"
        if not source.is_dir():
            return []
        return sorted(d.name for d in source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))

    def submissions(self, assignments: list[str]) -> dict[str, list[str]]:
        """{student: [the assignments they submitted]}, from submitted/<student>/<assignment>/*.ipynb."""
        out: dict[str, list[str]] = {}
        folder = self.root / "submitted"
        for student in sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
            have = [a for a in assignments if any(self.path("submitted", a, student).glob("*.ipynb"))]
            if have:
                out[student] = have
        return out

    # ----------------------------------------------------------------------- nbgrader

    @functools.cached_property
    def api(self):
        """An ``NbGraderAPI`` configured by the course's ``nbgrader_config.py`` (made once)."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)
        return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)

    def lectures(self, assignment: str) -> list[str]:
        """The lecture notebooks assignment carries (names without .ipynb): see ``SECTION_LECTURES``."""
        return [*COURSE_LECTURES[:1], *SECTION_LECTURES.get(assignment, ()), *COURSE_LECTURES[1:]]

    def lecture_files(self, assignment: str) -> list[Path]:
        """What of notebooks/ the assignment's release carries in lectures/, relative to notebooks/: its
        lectures in both editions, and each other file of notebooks/ (outside zh/) that their code names,
        by its name or, for a module, by an import (``lecture_figures.py``, ``data/W1.npy``). Nothing where
        the course keeps no notebooks/ (a course of assignments alone); a CourseError where a lecture is missing."""
        folder = self.root / LECTURE_SOURCE
        if not folder.is_dir():
            return []
        notebooks = [Path(f"{name}.ipynb") for name in self.lectures(assignment)]
        notebooks += [Path("zh") / path for path in notebooks]
        missing = [str(path) for path in notebooks if not (folder / path).is_file()]
        if missing:
            raise CourseError(
                f"{assignment} carries lectures that {folder} lacks: {', '.join(missing)} (see SECTION_LECTURES)"
            )
        code = "\n".join(_code(folder / path) for path in notebooks)
        others = sorted(
            path.relative_to(folder)
            for path in folder.rglob("*")
            if path.is_file()
            and path.suffix != ".ipynb"
            and path.relative_to(folder).parts[0] != "zh"
            and not {"__pycache__", ".ipynb_checkpoints"} & set(path.parts)
        )
        named = [
            path
            for path in others
            if path.name in code
            or (path.suffix == ".py" and re.search(rf"^\s*(from|import)\s+{path.stem}\b", code, re.M))
        ]
        return notebooks + named

    def helper_cells(self, refresh: bool = False) -> list[Path]:
        """The source notebooks whose ``given_explain`` cells differ from ``helper_cell_source()`` or are not
        collapsed (``HELPER_HIDDEN``: JupyterLab opens the notebook with the cell's source folded, a bar to
        click, so the tests come first); with refresh, those cells are rewritten first (``python -m autograder
        release`` does it). nbgrader's generate_assignment keeps the cell's metadata in release/."""
        import nbformat

        text, stale = helper_cell_source(), []
        for path in sorted((self.root / "source").glob("*/*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            helpers = [c for c in nb.cells if cells.grade_id(c) == HELPER_ID]
            if any(c.source != text or c.metadata.get("jupyter") != HELPER_HIDDEN for c in helpers):
                stale.append(path)
                if refresh:
                    for cell in helpers:
                        cell.source = text
                        cell.metadata["jupyter"] = dict(HELPER_HIDDEN)
                    nbformat.write(nb, path)
        return stale

    def release(self, names: list[str] | None = None) -> list[str]:
        """``generate_assignment --force --create`` for each assignment (default: all of source/), then its
        lectures copied from notebooks/ into its lectures/ (``lecture_files``), notebooks without their outputs:
        nbgrader copies what source/ holds besides the graded notebooks, but never a notebook, at any depth.

        Also what puts the current hidden tests and points in the gradebook (``grade`` calls it). In a course
        that keeps no notebooks/, the release's lectures/ stay as they were (nbgrader's --force removes the
        whole release folder: they are put back).
        """
        names = names or self.assignments()
        keep = not (self.root / LECTURE_SOURCE).is_dir()
        for name in names:
            files = self.lecture_files(name)  # before nbgrader: a lecture missing changes nothing
            dest = self.path("release", name) / LECTURES
            with tempfile.TemporaryDirectory(dir=self.root) as tmp:
                kept = Path(tmp) / LECTURES
                if keep and dest.is_dir():
                    dest.rename(kept)
                generated = self.api.generate_assignment(name, force=True, create=True)
                shutil.rmtree(dest, ignore_errors=True)
                if kept.is_dir():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    kept.rename(dest)
            checked(generated, f"nbgrader generate_assignment {name}")
            for rel in files:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                if rel.suffix == ".ipynb":  # release/ holds no outputs (the project's rule): the student runs them
                    write_without_outputs(self.root / LECTURE_SOURCE / rel, dest / rel)
                else:
                    shutil.copyfile(self.root / LECTURE_SOURCE / rel, dest / rel)
        return names

    def stale_releases(self, assignments: list[str]) -> list[str]:
        """Differences between release/ and what generate_assignment makes from source/ now, in words. A course
        that keeps no notebooks/ (a copy of source/ and release/ alone, as an instructor's course directory may
        be) has its release's lectures/ taken as they are: there is nothing to check them against."""
        import nbformat

        problems = []
        lectures_unchecked = not (self.root / LECTURE_SOURCE).is_dir()
        with tempfile.TemporaryDirectory() as tmp:
            fresh_course = self.scratch(tmp, assignments)
            for assignment in assignments:
                fresh, committed = fresh_course.path("release", assignment), self.path("release", assignment)
                names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
                names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
                if lectures_unchecked:
                    names = {rel for rel in names if rel.parts[0] != LECTURES}
                for rel in sorted(names):
                    a, b = fresh / rel, committed / rel
                    if not a.exists() or not b.exists():
                        problems.append(f"release/{assignment}/{rel} is {'extra' if b.exists() else 'missing'}")
                    elif rel.suffix == ".ipynb" and len(rel.parts) == 1:  # a lecture: release wrote it, its bytes
                        if _cells(nbformat.read(a, as_version=4)) != _cells(nbformat.read(b, as_version=4)):
                            problems.append(f"release/{assignment}/{rel} differs from its source")
                    elif a.read_bytes() != b.read_bytes():
                        problems.append(f"release/{assignment}/{rel} differs from its source")
        return problems

    def graded_functions(self, assignment: str) -> set[str]:
        """The functions the students write in assignment: those its release's answer cells define."""
        return {name for path in self._release_files(assignment, "*.ipynb") for name in bound_functions(path, True)}

    def earlier_solutions(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """What ``EARLIER_SOLUTIONS`` declares, read from release/: {assignment: {earlier assignment: its graded
        functions (in its answer cells' order) that the assignment's release binds outside answer cells}}. A
        release binds a function where a notebook of it (lectures/ too) or a module it carries (``lecture_figures.py``)
        defines it, or binds it by another name (``sigmoid = expit``, an import as): ``bound_functions``."""
        found: dict[str, dict[str, tuple[str, ...]]] = {}
        assignments = self.assignments()
        for i, assignment in enumerate(assignments):
            files = self._release_files(assignment, "**/*.ipynb") + self._release_files(assignment, "**/*.py")
            given = {name for path in files for name in bound_functions(path, answers=False)}
            for earlier in assignments[:i]:
                graded = [n for p in self._release_files(earlier, "*.ipynb") for n in bound_functions(p, answers=True)]
                if given & set(graded):
                    found.setdefault(assignment, {})[earlier] = tuple(n for n in dict.fromkeys(graded) if n in given)
        return found

    def _release_files(self, assignment: str, pattern: str) -> list[Path]:
        return sorted(p for p in self.path("release", assignment).glob(pattern) if "__pycache__" not in p.parts)

    def check(self, assignments: list[str]) -> None:
        """Raise CourseError unless every assignment has a source and an up-to-date release."""
        known = self.assignments()
        problems = [f"source/{a} holds no notebook (known: {', '.join(known)})" for a in assignments if a not in known]
        problems += self.stale_releases([a for a in assignments if a in known])
        if problems:
            raise CourseError(
                "the course is not consistent:\n  "
                + "\n  ".join(problems)
                + "\nrun `python -m autograder release` (and commit release/), then grade again"
            )

    # ----------------------------------------------------------------------- scratch copies

    def scratch(
        self,
        dest: str | Path,
        assignments: list[str] | None = None,
        *,
        config: str = "",
        submissions: Mapping[str, Mapping[str, Answers]] | None = None,
    ) -> Course:
        """A new course at dest (a folder that holds no course yet): this course's ``nbgrader_config.py`` plus the
        lines ``config``, ``source/`` of the assignments (default: all), what of ``notebooks/`` their
        lectures are (``lecture_files``), ``release/`` generated from them, and ``submissions``
        ({student: {assignment: Answers}}) made with ``submit``. Returns it. The one way demo, bench and
        tests build a class to grade.
        """
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or (dest / "nbgrader_config.py").exists()):
            raise FileExistsError(f"{dest} exists and is not a folder free for a course")
        dest.mkdir(parents=True, exist_ok=True)
        assignments = self.assignments() if assignments is None else assignments
        (dest / "nbgrader_config.py").write_text((self.root / "nbgrader_config.py").read_text() + config)
        for a in assignments:
            shutil.copytree(self.path("source", a), dest / "source" / a)
            for rel in self.lecture_files(a):
                (dest / LECTURE_SOURCE / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.root / LECTURE_SOURCE / rel, dest / LECTURE_SOURCE / rel)
        scratch = Course(dest)
        scratch.release(assignments)
        for student, work in (submissions or {}).items():
            for assignment, answers in work.items():
                scratch.submit(student, assignment, answers)
        return scratch

    def submit(self, student: str, assignment: str, answers: Answers) -> Path:
        """Put a student's submission in submitted/<student>/<assignment>/, made as students make it.

        Every file of release/<assignment>/ is copied (the data files that ship with it), and each
        notebook is the release notebook with its answer cells filled in (``fill_answers``).
        Returns the folder.
        """
        import nbformat

        folder = self.path("submitted", assignment, student)
        shutil.copytree(self.path("release", assignment), folder)
        for path in sorted(folder.glob("*.ipynb")):
            source_nb = nbformat.read(self.path("source", assignment) / path.name, as_version=4)
            release_nb = nbformat.read(path, as_version=4)
            nbformat.write(fill_answers(source_nb, release_nb, answers), path)
        return folder


def write_without_outputs(src: Path, dest: Path) -> None:
    """The notebook src at dest, each code cell's outputs and execution count cleared."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, dest)


def _code(path: Path) -> str:
    """The code cells of a notebook, one after another."""
    import nbformat

    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def bound_functions(path: Path, answers: bool) -> list[str]:
    """The functions a notebook's code cells bind at their top level, in order: those of its answer cells
    (nbgrader's solution cells; answers) or of every other cell; of a Python module (a ``.py`` file), its own
    (none for answers). A function is bound by ``def`` or ``class``, an import, or an assignment of a lambda, a
    name or an attribute (``sigmoid = scipy.special.expit``); a value (``cost, grad = ...``) is not one.
    Statements under a top-level if, try, with, for or while count too."""
    import ast

    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    names: list[str] = []

    def visit(body: list) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                node.value, (ast.Lambda, ast.Name, ast.Attribute)
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.extend(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    if path.suffix == ".py":
        if not answers:
            visit(ast.parse(path.read_text(), filename=str(path)).body)
        return names
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and cells.is_answer(cell) == answers:
            visit(ast.parse(TransformerManager().transform_cell(cell.source), filename=str(path)).body)
    return names


def _cells(nb) -> list[dict]:
    """What matters of each cell for equality: type, source and nbgrader metadata (checksum included)."""
    return [{"type": c.cell_type, "source": c.source, "nbgrader": c.metadata.get("nbgrader")} for c in nb.cells]


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


def fill_answers(source_nb, release_nb, answers: Answers):
    """A student's notebook: the release with its answer cells filled in, as a student would.

    answers (see ``Answers``): cells not named get the solution of source_nb as a student types
    it (``student_answer``: no solution markers); cells named with None keep the release's
    source; None leaves the release untouched.
    """
    nb = copy.deepcopy(release_nb)
    if answers is None:
        return nb
    solutions = {cells.grade_id(c): c.source for c in source_nb.cells if cells.is_solution(c)}
    unknown = set(answers) - set(solutions)
    if unknown:
        raise ValueError(f"no answer cell has the grade_id {sorted(unknown)}")
    for cell in nb.cells:
        if cells.is_solution(cell):
            gid = cells.grade_id(cell)
            if gid not in answers:
                cell.source = student_answer(solutions[gid])
            elif answers[gid] is not None:
                cell.source = answers[gid]
    return nb
