"""Student code reaches nothing of the grader: the attacks of issue 11, end to end.

The course is open source: a student can read ``autograder/`` and aim at it. Each attacker below
submits assignment 01 with a *wrong* sigmoid and the solution's tanh, and an attack in the
sigmoid answer cell that only nbgrader's kernel runs (``get_ipython()`` exists there, not in the
isolated pass). The attacker knows every path: the course root, the package, the other students.
Whatever the attack, the grader must record exactly the 5 points of tanh (none for the wrong
sigmoid), leave every other student's grade and submission as they were, leave the course as it
was, finish the run with a table, and give feedback that holds no hidden test, no line of the
grader's code and no script. Submissions that are links or not notebooks are graded as missing.

Run as root by the suite and as an unprivileged user by ``tests/run_as_user.sh``.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
import shutil
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import at_kernel_start

import autograder
from autograder import cells, feedback, grading
from autograder.course import COURSE_ROOT, Course
from autograder.grading import Options, Status, gradebook
from autograder.grading.submission import MAX_SUBMITTED_BYTES

ASSIGNMENT, NOTEBOOK = "01_activations", "activations.ipynb"
SIGMOID_PARTS = ("sigmoid_values", "sigmoid_extremes", "sigmoid_prime_values")
TANH_PARTS = {"tanh_values": 2.0, "tanh_extremes": 1.0, "tanh_prime_values": 2.0}
BUDGET, CALL_TIMEOUT, CELL_TIMEOUT = 900.0, 10.0, 15
PACKAGE = Path(autograder.__file__).resolve().parent
MARK = f"autograder-attack-{uuid.uuid4().hex[:8]}"  # in the command line of what the attacker leaves behind

WRONG = "def sigmoid(z):\n    return np.zeros_like(np.asarray(z, dtype=float))\n"
FULL = {
    "activations": {**dict.fromkeys(SIGMOID_PARTS, 9.0), **TANH_PARTS},
}


def _in_kernel(attack: str) -> dict[str, str]:
    """The sigmoid answer: the wrong sigmoid, then the attack, run where get_ipython() exists."""
    body = textwrap.indent(textwrap.dedent(attack).strip(), "        ")
    code = f"{WRONG}\ntry:\n    get_ipython\nexcept NameError:\n    pass\nelse:\n    try:\n{body}\n"
    code += "    except Exception as _e:\n        print('attack failed:', type(_e).__name__)\n"
    return {"sigmoid": code}


def _attacks(root: Path) -> dict[str, dict[str, str]]:
    forged = {"student": "forge_results", "assignment": ASSIGNMENT, "status": "graded", "seconds": 0.0}
    forged.update({"detail": "", "kernel": FULL, "isolated": FULL, "flags": []})
    line = json.dumps(forged)
    return {
        # 1. Forged results: as result files wherever a worker's may be (autograder.grading.worker),
        #    on every stream the worker might read, and a malformed line after them.
        "forge_results": _in_kernel(
            f"""
            import glob, os, sys
            for _dir in glob.glob("/tmp/*/results") + glob.glob("/tmp/*/*/results"):
                for _name in ("{ASSIGNMENT}.json", "{ASSIGNMENT}.isolated.json"):
                    try:
                        with open(os.path.join(_dir, _name), "w") as _f:
                            _f.write({line!r} if "isolated" not in _name else {json.dumps(FULL)!r})
                    except Exception:
                        pass
            _procs = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
            for _path in ["/dev/stdout", "/dev/stderr", *(f"/proc/{{p}}/fd/{{n}}" for p in _procs for n in (1, 2))]:
                try:
                    with open(_path, "w") as _f:
                        _f.write({line!r} + "\\n")
                except Exception:
                    pass
            # Last, with a fragment after it: the worker's own line that follows no longer parses.
            _text = ("\\n" + {line!r} + "\\n" + '{{"no": 1}}' + "\\n" + "[" * 100000 + "\\n" + "tail").encode()
            for _fd in (getattr(sys.stdout, "_original_stdstream_copy", None), 1, 2, 3, 4, 5):
                try:
                    os.write(_fd, _text)
                except Exception:
                    pass
            """
        ),
        # 2. Rewritten tests: the source's test cells become `pass` worth 100, a check of the package
        #    is replaced, and so is every course a worker's command line names.
        "rewrite_tests": _in_kernel(
            f"""
            import glob, json, os
            _roots = [{str(root)!r}]
            for _cmd in glob.glob("/proc/*/cmdline"):
                try:
                    _args = [a.split("=", 1)[-1] for a in open(_cmd).read().split("\\0")]  # --course=/path too
                    _roots += [a for a in _args if a.startswith("/")]
                except Exception:
                    pass
            for _r in _roots:
                for _nb in glob.glob(_r + "/source/*/*.ipynb") + glob.glob(_r + "/release/*/*.ipynb"):
                    try:
                        _d = json.load(open(_nb))
                        for _c in _d["cells"]:
                            if _c["metadata"].get("nbgrader", {{}}).get("grade"):
                                _c["source"] = "pass"
                                _c["metadata"]["nbgrader"]["points"] = 100
                        json.dump(_d, open(_nb, "w"))
                    except Exception:
                        pass
            for _f in ({str(PACKAGE / "checks" / "pwned.py")!r}, {str(PACKAGE / "checks" / "activations.py")!r}):
                try:
                    open(_f, "a").write("\\nPWNED = True\\n")
                except Exception:
                    pass
            """
        ),
        # 3. Other students destroyed: every other notebook the kernel can find becomes a blank release copy.
        "destroy_others": _in_kernel(
            f"""
            import glob, shutil
            _blank = {str(root / "release" / ASSIGNMENT / NOTEBOOK)!r}
            _targets = glob.glob({str(root)!r} + "/submitted/*/*/*.ipynb")
            _targets += glob.glob("/tmp/autograder-*/submitted/*/*/*.ipynb") + glob.glob("/tmp/*/*/*/*/*.ipynb")
            _targets += glob.glob("../../*/*/*.ipynb")
            for _t in _targets:
                try:
                    shutil.copy(_blank, _t)
                except Exception:
                    pass
            """
        ),
        # 4. The answer key: every cell the kernel runs is printed (hidden tests included), and so
        #    are the reference and the checks, line by line and as one escaped string.
        "leak_key": _in_kernel(
            """
            import inspect
            import autograder.checks.activations
            import autograder.reference
            from IPython.display import display

            def _leak(info):
                print(info.raw_cell)
                print("\\n".join("> " + line for line in info.raw_cell.splitlines()))  # prefixed
                png = {"image/png": "iVBORw0KGgo=", "text/plain": "a picture"}
                display(png, metadata={"image/png": {"alt": " | ".join(info.raw_cell.splitlines())}}, raw=True)

            get_ipython().events.register("pre_run_cell", _leak)
            print(inspect.getsource(autograder.reference))
            print(repr(inspect.getsource(autograder.checks.activations)))
            print("\\n".join("> " + line for line in inspect.getsource(autograder.checks).splitlines()))
            """
        ),
        # The hidden tests of each test cell kept as it starts, printed hidden from the filter (ANSI codes
        # and zero-width spaces between their letters, HTML entities) by the next cell that is not a test.
        "leak_disguised": _in_kernel(
            """
            from IPython.display import HTML, display
            _stash = []

            def _disguise(info):
                if "BEGIN HIDDEN" + " TESTS" in info.raw_cell or "autograder" in info.raw_cell:
                    _stash.extend(info.raw_cell.splitlines())
                elif _stash:
                    print("\\n".join("\\x1b[0m".join(line) for line in _stash))
                    print("\\n".join("\\u200b".join(line) for line in _stash))
                    display(HTML("<br>".join("".join(f"&#{ord(c)};" for c in line) for line in _stash)))

            get_ipython().events.register("pre_run_cell", _disguise)
            """
        ),
        # 6. A script in the feedback (which instructors open too): HTML, JavaScript, a Markdown cell below.
        "script_html": _in_kernel(
            """
            from IPython.display import HTML, Javascript, display
            display(HTML("<script>alert('xss-html')</script><b onmouseover=\\"alert('xss-attr')\\">x</b>"))
            display(Javascript("alert('xss-js')"))
            display({"text/markdown": "[see the report](javascript:alert('xss-link'))"}, raw=True)
            png = {"image/png": "iVBORw0KGgo=", "text/plain": "i"}
            display(png, metadata={"filenames": {"image/png": "http://127.0.0.1:9/xss-track.png"}}, raw=True)
            """
        ),
        # The disk filled: the submission's folder and /tmp, as far as they go.
        "fill_disk": _in_kernel(
            """
            import os
            for _where in (".", "/tmp"):
                try:
                    with open(os.path.join(_where, "fill.bin"), "wb") as _f:
                        for _ in range(1024):
                            _f.write(b"\\0" * 2**20)
                    print("FILLED", _where)
                except OSError as _e:
                    print("stopped:", _where, _e.strerror)
            """
        ),
        # A display of 40 MB of text (nbgrader's LimitOutput counts stream lines only).
        "huge_display": _in_kernel(
            """
            from IPython.display import display
            display({"text/plain": "W" * (40 << 20)}, raw=True)
            """
        ),
        # The kernel's ipc folder: one of its sockets swapped for a link to a socket of the machine's.
        "ipc_swap": _in_kernel(
            """
            import json, os, time
            from ipykernel.connect import get_connection_file
            _cfg = json.load(open(get_connection_file()))
            _path = f"{_cfg['ip']}-{_cfg['stdin_port']}"
            get_ipython().kernel.stdin_socket.close(linger=0)
            time.sleep(0.5)
            try:
                os.unlink(_path)
                os.symlink("/run/anything.sock", _path)
                print("SWAPPED")
            except OSError as _e:
                print("refused:", _e.strerror)
            """
        ),
        # 7. Out of the control group: the kernel moves itself to the root group.
        "cgroup_escape": _in_kernel(
            """
            import glob, os
            for _procs in ["/sys/fs/cgroup/cgroup.procs", *glob.glob("/sys/fs/cgroup/*/cgroup.procs")]:
                try:
                    with open(_procs, "w") as _f:
                        _f.write(str(os.getpid()))
                    print("ESCAPED", _procs)
                except Exception:
                    pass
            """
        ),
        # 10. The run killed: every process the kernel may signal.
        "kill_all": _in_kernel(
            """
            import os, signal
            os.kill(-1, signal.SIGKILL)
            """
        ),
        # 10. The run hung: processes that keep the kernel's stdout and stderr open, one of them a daemon.
        "background": _in_kernel(
            f"""
            import os, subprocess, sys
            _cmd = [sys.executable, "-c", "import time; time.sleep(600)", {MARK!r}]
            subprocess.Popen(_cmd, start_new_session=True)
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, _cmd)
                os._exit(0)
            """
        ),
    }


PRESTART = at_kernel_start(
    """
    import os, sys, threading

    def _prepare():
        try:
            ipc = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
            os.mkdir(os.path.join(ipc, "mine"))
        except Exception:
            pass

    threading.Thread(target=_prepare, daemon=True).start()
    """
)

#: 5. and 8.: submissions that are not plain notebooks (made in the fixture).
MISSING = {
    "link_source": "a link to the course's source notebook (its solution)",
    "link_other": "a link to another student's notebook",
    "link_dangling": "a link to nothing",
    "not_notebook": "a file that is not JSON",
    "metadata_oops": "a notebook whose nbgrader metadata is a string",
    "too_large": "a notebook of 65 MiB (sparse: no disk is spent on it)",
}
HONEST = ("alice", "bob")
#: 9. Folder names that are not student ids: a CSV row of full marks, an argparse terminator, a name
#: that looks like alice's, escape codes that redraw the table (each holds a copy of alice's work).
ODD_NAMES = ("mallory,,,,10.0,0.0,10.0,10.0", "--", "alice ", "eve\x1b[2K\ralice 10 of 10")


def _digest(folder: Path, pattern: str = "*") -> dict[str, str]:
    """{file: its SHA-256} of the plain files under folder (not their bytecode, which Python rewrites)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob(pattern))
        if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    work = {
        student: {ASSIGNMENT: answers} for student, answers in {**dict.fromkeys(HONEST, {}), **_attacks(root)}.items()
    }
    work["ipc_prestart"] = {ASSIGNMENT: {"sigmoid": WRONG}}
    config = f"\nc.Execute.timeout = {CELL_TIMEOUT}\n"
    course = Course().scratch(root, [ASSIGNMENT], config=config, submissions=work)
    script = root / "submitted" / "script_html" / ASSIGNMENT / NOTEBOOK
    nb = nbformat.read(script, as_version=4)
    markdown = (
        "<script>alert('xss-md')</script><img src=x onerror=alert('xss-img')> [here](javascript:alert(1))\n\n"
        "> [r]: javascript:alert(2)\n\n[quoted][r]\n\n[a\\]b]: javascript:alert(3)\n\n[escaped][a\\]b]\n\n"
        "![t](//127.0.0.1:9/xss-track.png)\n\n- [i]: http://127.0.0.1:9/xss-track.png\n\n![x][i]\n"
    )
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nbformat.write(nb, script)
    for student in MISSING:
        (root / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
    sub = {s: root / "submitted" / s / ASSIGNMENT / NOTEBOOK for s in [*HONEST, *MISSING]}
    sub["link_source"].symlink_to(root / "source" / ASSIGNMENT / NOTEBOOK)
    sub["link_other"].symlink_to(sub["alice"])
    sub["link_dangling"].symlink_to(root / "nowhere.ipynb")
    sub["not_notebook"].write_bytes(b"\x00not a notebook\xff")
    oops = nbformat.read(sub["alice"], as_version=4)
    oops.cells[0].metadata["nbgrader"] = "oops"
    sub["metadata_oops"].write_text(json.dumps(oops))
    # Code of the submission's folder, run as the kernel starts (before its ipc folder is locked):
    # a folder of its own in the ipc folder, to fill the disk and swap sockets from later.
    (root / "submitted" / "ipc_prestart" / ASSIGNMENT / "calendar.py").write_text(PRESTART)
    with open(sub["too_large"], "wb") as big:
        big.truncate(MAX_SUBMITTED_BYTES + 2**20)
    for odd in ODD_NAMES:
        shutil.copytree(root / "submitted" / "alice", root / "submitted" / odd)
    before = {name: _digest(root / name) for name in ("source", "release", "submitted")}
    before["package"] = _digest(PACKAGE)
    try:
        report = grading.grade(course, Options([ASSIGNMENT], jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT))
        table = grading.summary(course, report, [ASSIGNMENT])
    finally:
        (PACKAGE / "checks" / "pwned.py").unlink(missing_ok=True)  # never left in the package, pass or fail
    print(table)
    return root, before, report, table, gradebook.scores(course, [ASSIGNMENT])


def _outcome(report, student):
    (outcome,) = [o for o in report.outcomes if o.student == student]
    return outcome


def _feedback(root, student) -> str:
    return (root / "feedback" / student / ASSIGNMENT / "activations.html").read_text()


def test_the_run_completes_with_a_table_that_names_every_student(attacked):
    root, _, report, table, scores = attacked
    students = {*HONEST, *_attacks(root), *MISSING, "ipc_prestart"}
    assert {o.student for o in report.outcomes} == students | set(ODD_NAMES)
    assert all(student in table for student in students)
    assert {s for s, _ in scores} == students


def test_folder_names_that_are_not_student_ids_are_not_graded_and_cannot_forge_a_row(attacked):
    root, _, report, table, scores = attacked
    for odd in ODD_NAMES:
        (outcome,) = [o for o in report.outcomes if o.student == odd]
        assert outcome.status == Status.FAILED and "not a student id" in outcome.detail
        assert not any(s == odd for s, _ in scores)  # nothing in the gradebook, so nothing in the CSV
    rows = list(csv.DictReader(open(root / "grades.csv")))
    assert {r["student_id"] for r in rows} == {s for s, _ in scores}
    assert "\x1b" not in table and "\r" not in table  # the escape codes are shown, not run
    assert "eve\\x1b[2K\\ralice 10 of 10" in table


def test_honest_students_keep_their_grades_and_their_submissions(attacked):
    root, before, report, _, scores = attacked
    for student in HONEST:
        assert sum(scores[student, ASSIGNMENT].values()) == 10, student
        assert _outcome(report, student).status == Status.GRADED
    assert _digest(root / "submitted") == before["submitted"]


@pytest.mark.parametrize("student", sorted(_attacks(Path("/course"))))
def test_an_attack_earns_nothing_but_the_tanh_it_got_right(attacked, student):
    _, _, report, _, scores = attacked
    got = scores[student, ASSIGNMENT]
    assert {k: got[k] for k in SIGMOID_PARTS} == dict.fromkeys(SIGMOID_PARTS, 0), got
    assert {k: got[k] for k in TANH_PARTS} == TANH_PARTS, got
    assert "grading stopped" not in _outcome(report, student).detail  # nothing hung the worker


def test_the_course_and_the_package_are_as_they_were(attacked):
    root, before, _, _, _ = attacked
    for name in ("source", "release"):
        assert _digest(root / name) == before[name], name
    assert _digest(PACKAGE) == before["package"]


def test_the_kernel_saw_no_control_group_and_left_nothing_running(attacked):
    root, _, _, _, _ = attacked
    outputs = nbformat.read(root / "autograded" / "cgroup_escape" / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert "ESCAPED" not in json.dumps([c.get("outputs", []) for c in outputs.cells])
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARK in cmdline.read_text():
                left.append(cmdline.parent.name)
        except OSError:
            continue
    assert not left, f"processes the kernel started outlived the run: {left}"


def _outputs(root, student) -> str:
    nb = nbformat.read(root / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


def test_the_kernel_fills_no_disk_and_no_output_is_huge(attacked):
    root, _, _, _, _ = attacked
    said = _outputs(root, "fill_disk")
    assert "FILLED" not in said and "No space left on device" in said  # its tmpfs of 512 MiB, its /tmp of 64
    for student in ("huge_display", "fill_disk"):
        for kind in ("autograded", "feedback"):
            size = sum(f.stat().st_size for f in (root / kind / student).rglob("*") if f.is_file())
            assert size < 4 * 2**20, (student, kind, size)


def test_the_kernel_cannot_swap_its_sockets(attacked):
    """As root and as any other grader: once bound, the sockets' tmpfs is read-only in the kernel's namespace
    (a grader that is not root shares its user id with the kernel, which could once take its folder back)."""
    root, _, report, _, scores = attacked
    assert "SWAPPED" not in _outputs(root, "ipc_swap") and "Read-only file system" in _outputs(root, "ipc_swap")
    # What the kernel did to its ipc folder as it started is found, and the kernel is stopped.
    prestart = _outcome(report, "ipc_prestart")
    assert prestart.status == Status.FAILED and "changed its ipc folder" in prestart.detail, prestart
    assert scores["ipc_prestart", ASSIGNMENT] == {**dict.fromkeys(SIGMOID_PARTS, 0), **TANH_PARTS}


@pytest.mark.parametrize("student", sorted(MISSING))
def test_links_and_non_notebooks_are_graded_as_missing(attacked, student):
    _, _, report, _, scores = attacked
    assert sum(scores[student, ASSIGNMENT].values()) == 0
    detail = _outcome(report, student).detail
    said = {"link": "symbolic link", "too": "past 64 MiB in all"}.get(student.split("_")[0], "not a notebook")
    assert said in detail, detail


@pytest.mark.parametrize("student", ["leak_key", "leak_disguised"])
def test_feedback_holds_no_hidden_test_and_no_line_of_the_grader(attacked, student):
    root, _, _, _, _ = attacked
    page = feedback._normal(html.unescape(_feedback(root, student)))  # as a reader sees it
    assert "BEGIN HIDDEN TESTS" not in page
    submitted = nbformat.read(root / "submitted" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    own = {line.strip() for cell in submitted.cells for line in cell.source.splitlines()}  # the student's own
    hidden = {line.strip() for line in _hidden_lines() if len(line.strip()) >= 16}
    leaked = [line for line in (feedback.grader_lines() | hidden) - own if feedback._normal(line) in page]
    assert not leaked, leaked[:5]


def _hidden_lines() -> list[str]:
    source = nbformat.read(COURSE_ROOT / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    return [
        line
        for cell in source.cells
        for number, line in enumerate(cell.source.split("\n"), start=1)
        if number in cells.hidden_lines(cell.source, *cells.hidden_delimiters())
    ]


def test_feedback_holds_no_script_from_the_student(attacked):
    root, _, _, _, _ = attacked
    page = _feedback(root, "script_html")
    for payload in ("xss-html", "xss-js", "xss-md"):
        assert not re.search(rf"<script[^<]*>[^<]*{payload}", page), payload  # no script tag runs it
    assert "output_javascript" not in page  # a JavaScript output is dropped whole
    assert not re.search(r"<[A-Za-z][^<>]*\son[a-z]+\s*=", page)  # no tag with an event handler
    assert "xss-md" in page  # the Markdown cell is shown, as text
    assert not re.search(r"(href|src)=[\"']?\s*javascript", page, flags=re.I)  # no link runs a script
    assert not re.search(r"src=[\"']?[^\"'>]*xss-track", page)  # no image from where the student says


def test_the_autograded_notebook_formgrader_shows_holds_no_script_either(attacked):
    """Instructors open autograded notebooks in formgrader, in their own Jupyter session."""
    root, _, _, _, _ = attacked
    nb = nbformat.read(root / "autograded" / "script_html" / ASSIGNMENT / NOTEBOOK, as_version=4)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not any("application/javascript" in o.get("data", {}) for o in outputs)
    assert not any("<script" in o.get("data", {}).get("text/html", "") for o in outputs)
    markdown = nb.cells[-1].source  # rendered and cleaned: the tags it may have, none with a handler
    assert "<script" not in markdown and not re.search(r"<[A-Za-z][^<>]*\son[a-z]+\s*=", markdown)
    assert 'href="javascript' not in markdown and not re.search(r'src="[^"]*xss-track', markdown)
