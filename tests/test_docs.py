"""The README is a landing page, and what it and docs/ say can be followed: every relative link leads to a file
(and a heading) that exists, and every command names a program, subcommand and options that exist.

The commands checked are those of every fenced ``bash``/``sh``/``shell``/``console`` block (a program the checker
does not know there is a problem) and every inline code span that starts with one of the programs it knows
(``python -m autograder …``, ``python -m pytest tests/…``, ``nbgrader …``, ``python deploy/….py``, …):

* ``python -m autograder SUB --opt``: SUB is a subcommand of ``autograder.cli.build_parser()``, each ``--opt`` one
  of SUB's options, and a value given to an option with choices (``bench --sections``) one of them;
* ``nbgrader SUB [SUB …] --opt`` (or ``python -m nbgrader``): SUB is one of nbgrader's subcommands (nested ones
  too: ``db assignment add``), ``--opt`` one of that app's aliases or flags, or ``--Class.trait`` a configurable
  trait of a class nbgrader or ``autograder.exchange`` defines;
* ``python -m pytest tests/x.py``, ``python path/x.py``, ``bash path``, ``pip install ./path``,
  ``conda env create -f path``: the paths exist; ``deploy/jupyterhub/up.py --opt``: an option of its parser;
* ``python -m module``: the module can be found; ``jupyter sub`` and ``dask sub``: installed here.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import re
import shlex
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

COURSE_ROOT = Path(__file__).resolve().parent.parent
README = COURSE_ROOT / "README.md"
DOCS = COURSE_ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 150

#: A fenced block: its info string and its body.
FENCE = re.compile(r"^(`{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
SHELL_FENCES = {"bash", "sh", "shell", "console"}
#: Programs a fenced shell block may run without a check of their own (the system's).
SYSTEM_PROGRAMS = {"mkdir", "chmod", "tee", "cd", "env", "apt-get", "export"}
#: Control operators that end a command.
OPERATORS = {"&&", "||", ";", "|", "&"}
REDIRECTIONS = re.compile(r"^\d*[<>]+$")
#: Words that stand for "and so on" in a command written for people.
PLACEHOLDERS = {"…", "..."}


def _fenced(text: str) -> tuple[str, list[tuple[str, str, int]]]:
    """(the text with every fenced block blanked, line count kept; [(info string, body, first line), ...])."""
    blocks = []
    for m in FENCE.finditer(text):
        blocks.append((m.group(2).strip().lower(), m.group(3), text.count("\n", 0, m.start()) + 2))
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return prose, blocks


def _code_spans(prose: str) -> list[tuple[str, int]]:
    """Every inline code span (one or more backticks) of the prose, whitespace collapsed: [(span, line), ...]."""
    spans = []
    for m in re.finditer(r"(`+)(.+?)(?<!`)\1(?!`)", prose, re.S):
        spans.append((" ".join(m.group(2).split()), prose.count("\n", 0, m.start()) + 1))
    return spans


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text without markup, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown page's headings (outside fenced blocks), duplicates numbered as GitHub does."""
    prose, _ = _fenced(text)
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", prose, re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def link_problems(text: str, page: Path) -> list[str]:
    """Every relative link (or image) of the page that leads to no file, or to no heading of its page."""
    prose, _ = _fenced(text)
    prose = re.sub(r"(`+).+?(?<!`)\1(?!`)", lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose, flags=re.S)
    problems = []
    for m in re.finditer(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose):
        target = m.group(1)
        line = prose.count("\n", 0, m.start()) + 1
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        where = (page.parent / path_part).resolve()
        if path_part and not where.exists():
            problems.append(f"{_where(page)}:{line}: link to {target}: no such file")
            continue
        if anchor and (not path_part or where.suffix == ".md"):
            if anchor not in anchors(where.read_text() if path_part else text):
                problems.append(f"{_where(page)}:{line}: link to {target}: no heading #{anchor} there")
    return problems


# ---------------------------------------------------------------- the commands


@functools.cache
def _autograder_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from autograder.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, dict(sub.choices)


@functools.cache
def _up_parser() -> argparse.ArgumentParser:
    path = COURSE_ROOT / "deploy" / "jupyterhub" / "up.py"
    spec = importlib.util.spec_from_file_location("_course_hub_up", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parser()


def _load(app):
    if isinstance(app, str):
        module, name = app.rsplit(".", 1)
        app = getattr(importlib.import_module(module), name)
    return app


@functools.cache
def _nbgrader_app():
    from nbgrader.apps import NbGraderApp

    return NbGraderApp()


@functools.cache
def _configurables() -> dict[str, list[type]]:
    """Every configurable class nbgrader and the course's exchange define: {name: [classes of that name]} (config
    given to a name reaches each: nbgrader's abstract Exchange and its default one)."""
    import nbgrader.apps
    import nbgrader.exchange
    import nbgrader.preprocessors  # noqa: F401
    from traitlets.config import Configurable

    import autograder.exchange  # noqa: F401

    found, todo = {}, [Configurable]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, []).append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _options_problems(args: list[str], parser: argparse.ArgumentParser, what: str) -> list[str]:
    """--options of args that parser lacks, and values outside an option's choices."""
    options = parser._option_string_actions
    problems, action = [], None
    for arg in args:
        if arg.startswith("-") and not re.fullmatch(r"-\d.*", arg):
            name, eq, value = arg.partition("=")
            action = options.get(name)
            if action is None:
                problems.append(f"{what}: no option {name}")
            elif eq and action.choices is not None and value not in action.choices:
                problems.append(f"{what}: {value!r} is not one of {name}'s {sorted(action.choices)}")
            if action is not None and (eq or action.nargs == 0):
                action = None
        elif action is not None:
            if action.choices is not None and arg not in action.choices:
                problems.append(f"{what}: {arg!r} is not one of {action.option_strings[-1]}'s {sorted(action.choices)}")
            if action.nargs in (None, "?"):
                action = None
    return problems


def _autograder_problems(args: list[str]) -> list[str]:
    parser, subcommands = _autograder_parsers()
    if not args or args[0].startswith("-"):
        return _options_problems(args, parser, "python -m autograder")
    if args[0] not in subcommands:
        return [f"python -m autograder has no subcommand {args[0]!r} (it has {', '.join(subcommands)})"]
    return _options_problems(args[1:], subcommands[args[0]], f"python -m autograder {args[0]}")


def _nbgrader_problems(args: list[str]) -> list[str]:
    app, path = _nbgrader_app(), ["nbgrader"]
    rest = list(args)
    while rest and not rest[0].startswith("-") and rest[0] in (app.subcommands or {}):
        path.append(rest.pop(0))
        app = _load(app.subcommands[path[-1]][0])()
    what = " ".join(path)
    if len(path) == 1 and rest and not rest[0].startswith("-"):
        return [f"nbgrader has no subcommand {rest[0]!r} (it has {', '.join(sorted(app.subcommands))})"]
    problems = []
    for arg in rest:
        if not arg.startswith("--"):
            continue
        name = arg[2:].split("=", 1)[0]
        if "." in name:
            cls_name, trait = name.rsplit(".", 1)
            classes = _configurables().get(cls_name)
            if not classes:
                problems.append(f"{what}: --{name}: no configurable class {cls_name}")
            elif not any(trait in cls.class_traits(config=True) for cls in classes):
                problems.append(f"{what}: --{name}: {cls_name} has no configurable {trait}")
        elif name not in app.aliases and name not in app.flags:
            problems.append(f"{what}: no option --{name}")
    return problems


def _path_problems(path: str, what: str) -> list[str]:
    path = path.split("::", 1)[0]
    if not (COURSE_ROOT / path).exists():
        return [f"{what}: no {path} in the course"]
    return []


def _python_problems(args: list[str]) -> list[str]:
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        rest.pop(0)  # the interpreter's own options (-I, -S, ...)
    if not rest or rest[0] == "-c":
        return []
    if rest[0] == "-m":
        module, module_args = rest[1], rest[2:]
        if module == "autograder":
            return _autograder_problems(module_args)
        if module == "nbgrader":
            return _nbgrader_problems(module_args)
        if module == "pytest":
            return [p for a in module_args if not a.startswith("-") and "/" in a for p in _path_problems(a, "pytest")]
        if module == "pip":
            return _pip_problems(module_args)
        if importlib.util.find_spec(module) is None:
            return [f"python -m {module}: no such module here"]
        return []
    script, script_args = rest[0], rest[1:]
    problems = _path_problems(script, "python")
    if not problems and Path(script).as_posix() == "deploy/jupyterhub/up.py":
        problems += _options_problems(script_args, _up_parser(), script)
    return problems


def _pip_problems(args: list[str]) -> list[str]:
    if not args or args[0] != "install":
        return []
    local = [re.sub(r"\[[\w,-]+\]$", "", a) for a in args[1:] if not a.startswith("-") and a.startswith((".", "/"))]
    return [p for a in local for p in _path_problems(a, "pip install")]


@functools.cache
def _conda_environments() -> set[str]:
    files = [COURSE_ROOT / "environment.yml", COURSE_ROOT / "student" / "environment.yml"]
    return {yaml.safe_load(f.read_text())["name"] for f in files if f.exists()}


def _conda_problems(args: list[str]) -> list[str]:
    if args[:1] == ["activate"] and len(args) > 1 and args[1] not in _conda_environments():
        return [f"conda activate {args[1]}: no environment.yml of that name ({sorted(_conda_environments())})"]
    if args[:2] == ["env", "create"] and "-f" in args:
        return _path_problems(args[args.index("-f") + 1], "conda env create -f")
    return []


def _installed_subcommand(program: str, args: list[str]) -> list[str]:
    if not args or args[0].startswith("-"):
        return []
    if program == "jupyter":
        if not (Path(sys.executable).parent / f"jupyter-{args[0]}").exists():
            return [f"jupyter {args[0]}: no jupyter-{args[0]} in this environment"]
    elif program == "dask" and args[0] not in {e.name for e in entry_points(group="dask_cli")}:
        return [f"dask {args[0]}: no such dask command here"]
    return []


#: program (the last part of its path) -> the check of its arguments.
CHECKS = {
    "nbgrader": _nbgrader_problems,
    "pip": _pip_problems,
    "conda": _conda_problems,
    "bash": lambda args: _path_problems(args[0], "bash") if args and not args[0].startswith("-") else [],
    "jupyter": lambda args: _installed_subcommand("jupyter", args),
    "dask": lambda args: _installed_subcommand("dask", args),
}


def _is_python(program: str) -> bool:
    return re.fullmatch(r"python(3(\.\d+)?)?", Path(program).name) is not None


def known_program(program: str) -> bool:
    """A program whose commands are checked wherever they are written: a bare name, or one in a bin/ folder
    (``.venv/bin/python``), not a path that merely ends in one (``etc/jupyter/``)."""
    if "/" in program and Path(program).parent.name != "bin":
        return False
    return _is_python(program) or Path(program).name in CHECKS


def commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line: words, without comments, operators, redirections or VAR= prefixes."""
    line = re.sub(r"\d*>&\d+", " ", line)  # 2>&1
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    out, current, skip = [], [], False
    for token in lexer:
        if token in OPERATORS:
            out.append(current)
            current = []
        elif REDIRECTIONS.fullmatch(token):
            skip = True  # the file it redirects to
        elif skip:
            skip = False
        elif not current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            continue
        elif token in PLACEHOLDERS:
            continue
        else:
            current.append(token)
    out.append(current)
    return [c for c in out if c]


def _where(page: Path) -> str:
    return str(page.relative_to(COURSE_ROOT)) if page.is_relative_to(COURSE_ROOT) else page.name


def command_problems(argv: list[str]) -> list[str]:
    program, args = argv[0], argv[1:]
    if _is_python(program):
        return _python_problems(args)
    if program.endswith(".py"):
        return _python_problems([program, *args])
    name = Path(program).name
    if name in CHECKS:
        return CHECKS[name](args)
    if name in SYSTEM_PROGRAMS:
        return []
    return [f"{program}: a program this test does not know (add its check to tests/test_docs.py)"]


def page_commands(text: str) -> list[tuple[int, str, bool]]:
    """[(line, command line, from a fenced shell block)] of a Markdown page."""
    prose, blocks = _fenced(text)
    found = []
    for info, body, first in blocks:
        if info.split()[:1] and info.split()[0] in SHELL_FENCES:
            logical, start = "", None
            for n, raw in enumerate(body.split("\n"), first):
                start = n if start is None else start
                if raw.rstrip().endswith("\\"):
                    logical += raw.rstrip()[:-1] + " "
                    continue
                logical += raw
                if logical.strip() and not logical.strip().startswith("#"):
                    found.append((start, logical.strip(), True))
                logical, start = "", None
    for span, line in _code_spans(prose):
        try:
            first_word = shlex.split(span)[0]
        except (ValueError, IndexError):
            continue
        if known_program(first_word):
            found.append((line, span, False))
    return found


def command_line_problems(text: str, page: Path) -> list[str]:
    problems = []
    for line, command_line, fenced in page_commands(text):
        try:
            argvs = commands(command_line)
        except ValueError as error:  # unbalanced quotes
            problems.append(f"{_where(page)}:{line}: {command_line!r}: {error}")
            continue
        for argv in argvs:
            if not fenced and not known_program(argv[0]):
                continue  # `bash .ci/run 2>&1 | tee build/ci.log`: the pipe's other end, in prose
            problems += [f"{_where(page)}:{line}: {command_line!r}: {p}" for p in command_problems(argv)]
    return problems


# ---------------------------------------------------------------- the tests


def test_the_docs_are_there():
    names = {p.name for p in DOCS.glob("*.md")}
    expected = {"README.md", "students.md", "instructors.md", "jupyterhub.md", "threat-model.md"}
    assert expected | {"architecture.md", "benchmarks.md"} <= names


def test_the_readme_is_a_landing_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move sections into docs/"
    text = "\n".join(lines)
    for page in sorted(DOCS.glob("*.md")):  # every page is reachable from it
        assert f"docs/{page.name}" in text, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(COURSE_ROOT)))
def test_every_relative_link_resolves(page):
    assert link_problems(page.read_text(), page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(COURSE_ROOT)))
def test_every_command_exists(page):
    assert command_line_problems(page.read_text(), page) == []


def test_the_readme_commands_are_checked():
    """The checker reads the README's two commands (a block it skipped would pass any command)."""
    lines = [c for _, c, fenced in page_commands(README.read_text()) if fenced]
    assert any(c.endswith("-m autograder demo") for c in lines), lines
    assert any("-m pytest" in c for c in lines), lines


FAKES = {
    "a subcommand that does not exist, in a block": "```bash\npython -m autograder gradee\n```\n",
    "the same, inline": "Run `.venv/bin/python -m autograder gradee` to grade.\n",
    "an option that does not exist": "```bash\npython -m autograder grade --jbos 4\n```\n",
    "an option of another subcommand": "Run `python -m autograder release --scheduler tcp://HOST:8786`.\n",
    "a value outside an option's choices": "Run `python -m autograder bench --sections cost trainig`.\n",
    "a test file that does not exist": "```bash\n.venv/bin/python -m pytest tests/test_nothing_here.py\n```\n",
    "a script that does not exist": "```bash\npython notebooks/no_such_script.py\n```\n",
    "an option the hub's command lacks": "```sh\npython deploy/jupyterhub/up.py --teachers ines\n```\n",
    "an nbgrader subcommand that does not exist": "```bash\nnbgrader relase_assignment 01_activations\n```\n",
    "an nbgrader option that does not exist": "Run `nbgrader submit 01_activations --corse=sparse-autoencoder`.\n",
    "an nbgrader trait that does not exist": "Run `python -m nbgrader collect 01 --Exchange.rooot=/srv/x`.\n",
    "a nested nbgrader subcommand's option": "Run `nbgrader db assignment add 01 --due=2026-12-14`.\n",
    "a program the checker does not know, in a block": "```bash\nautogradr grade\n```\n",
    "a conda environment that does not exist": "```bash\nconda activate sparse-autoencoders\n```\n",
    "a folder pip cannot install": "```bash\npython -m pip install -e './studnt[test]'\n```\n",
}


@pytest.mark.parametrize("text", FAKES.values(), ids=FAKES.keys())
def test_the_checker_catches_a_made_up_command(text):
    assert command_line_problems(text, DOCS / "fake.md"), text


def test_the_checker_passes_real_commands_of_every_kind():
    text = """```bash
DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler --port 8786    # a comment
python3 -m venv .venv && .venv/bin/python -m pip install -e . && .venv/bin/python -m autograder demo
python -m autograder grade --scheduler tcp://HOST:8786 --jobs=4 --student=alice 01_activations
nbgrader db assignment add 01_activations --duedate="2026-12-14 23:59:00 Europe/Berlin"
python -m nbgrader release_assignment 01 --OrderedReleaseAssignment.allow_early=True --Exchange.root=/srv/x
.venv/bin/python deploy/jupyterhub/up.py --instructors ines --students alice,bob
conda env create -f student/environment.yml && conda activate sparse-autoencoder-student && jupyter lab
mkdir -p /srv/nbgrader/exchange && chmod 1777 /srv/nbgrader/exchange
```

`python -m autograder bench --sections cost training`, `python -m autograder --help`, `python -I -S`,
`bash .ci/run 2>&1 | tee build/ci.log`, `.venv/bin/python -m pytest
tests/test_hub.py::test_a_term`, `pip install ./student`, `pip install -e ".[test]"`.
"""
    assert command_line_problems(text, DOCS / "fake.md") == []


def test_the_checker_catches_a_broken_link():
    text = "# Title\n\n## A section\n\n[ok](#a-section) [ok](../README.md#two-commands-on-a-fresh-machine)\n"
    assert link_problems(text, DOCS / "fake.md") == []
    for bad in ("[x](nothing.md)", "[x](#no-section)", "[x](../README.md#no-such-heading)", "![x](img/none.svg)"):
        assert link_problems(text + bad + "\n", DOCS / "fake.md"), bad
    # a link inside a code span or a fenced block is not a link
    assert link_problems(text + "`[x](nothing.md)`\n\n```\n[x](nothing.md)\n```\n", DOCS / "fake.md") == []


def test_slugs_are_githubs():
    assert slug("Threat model: what the grade can be trusted for") == "threat-model-what-the-grade-can-be-trusted-for"
    assert slug("What `grade` does") == "what-grade-does"
    assert slug("Grading on a cluster (Dask)") == "grading-on-a-cluster-dask"
    assert slug("One student's course, step by step") == "one-students-course-step-by-step"
    assert anchors("# A\n\n## A\n\n```\n# not a heading\n```\n") == {"a", "a-1"}
