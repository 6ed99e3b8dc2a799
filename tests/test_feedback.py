"""Students' feedback shows each part's score and the hidden checks' diagnosis, not the hidden tests.

A scratch copy of the course (assignment 03) is released, two students are submitted
and graded with nbgrader's own API, and their feedback HTML is read:
* ``buggy``: ``cost`` ignores its activation argument (the visible test, sigmoid only,
  passes; the hidden check names the bug) and ``backprop`` forgets weight decay (the
  visible test catches it first, so its cells show the visible assert's message);
* ``untouched``: the release as students get it.
The same autograded notebooks rendered with nbgrader's default feedback preprocessors,
and with ClearHiddenTests added, prove that the leak is real without autograder.feedback.
The preprocessor's handling of timeouts, dead kernels and grader errors is tested on
notebooks holding the outputs nbgrader 0.9.6 records for them (no kernel needed).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config import Config

from autograder.course import COURSE_ROOT, Course, checked
from autograder.feedback import SafeFeedback, SanitizeFeedback

ASSIGNMENT, NOTEBOOK = "03_backprop", "backprop.ipynb"

COST_IGNORES_ACTIVATION = """def cost(W, b, X, Y, lambda_, activation="sigmoid"):
    h = forward_pass(W, b, X)[-1]
    return float(0.5 * np.sum((h - Y) ** 2) / X.shape[1] + 0.5 * lambda_ * sum(np.sum(w**2) for w in W))
"""
BACKPROP_WITHOUT_WEIGHT_DECAY = """def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    a = forward_pass(W, b, X, activation)
    fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v**2)
    m = X.shape[1]
    J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)
    dW, db = [None] * len(W), [None] * len(W)
    delta = -(Y - a[-1]) * fp(a[-1])
    for l in reversed(range(len(W))):
        dW[l] = delta @ a[l].T / m
        db[l] = delta.sum(axis=1) / m
        if l > 0:
            delta = (W[l].T @ delta) * fp(a[l])
    return J, dW, db
"""
STUDENTS = {
    "buggy": {"cost": COST_IGNORES_ACTIVATION, "backprop": BACKPROP_WITHOUT_WEIGHT_DECAY},
    "untouched": None,
}
#: What the hidden check of cost_value says about the buggy student's cost.
DIAGNOSIS = "this is what happens when the activation argument is ignored (sigmoid is used)"
#: Text that only hidden tests or tracebacks through them put in the feedback.
LEAKS = (
    "BEGIN HIDDEN TESTS",
    "from autograder",
    "checks.check_",
    "Traceback",
    'File "',
    "site-packages",
    "autograder/checks",
)


class _Text(HTMLParser):
    """The visible text of an HTML page (no tags, no style or script)."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("style", "script")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def _read(path: Path) -> tuple[str, str]:
    """(visible text, HTML without style and script blocks, entities decoded) of a feedback page."""
    page = path.read_text(encoding="utf-8")
    parser = _Text()
    parser.feed(page)
    markup = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    return "".join(parser.parts), html.unescape(markup)


def _leaks(path: Path) -> list[str]:
    text, markup = _read(path)
    return [s for s in LEAKS if s in text or s in markup] + [s for s in ("\x1b[", "[0;31m") if s in text or s in markup]


def _api(root: Path, feedback_directory: str, preprocessors: list | None):
    """nbgrader's API on root writing feedback to feedback_directory, with these feedback
    preprocessors (None: nbgrader's defaults, i.e. nbgrader_config.py's lines removed) and nbgrader's page."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.feedback_directory = feedback_directory
    config.GenerateFeedback.pop("preprocessors", None)
    config.GenerateFeedback.pop("exporter_class", None)  # nbgrader's page (HTMLExporter), not the course's
    if preprocessors is not None:
        config.GenerateFeedback.preprocessors = preprocessors
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """The scratch course root, both students autograded, with feedback in feedback/ (the
    course's configuration), feedback_nbgrader/ and feedback_clear_hidden_tests/."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    work = {student: {ASSIGNMENT: answers} for student, answers in STUDENTS.items()}
    scratch = Course().scratch(tmp_path_factory.mktemp("feedback_course"), [ASSIGNMENT], submissions=work)
    root, api = scratch.root, scratch.api
    for student in STUDENTS:
        checked(api.autograde(ASSIGNMENT, student, force=True, create=True), f"autograde {student}")
        checked(api.generate_feedback(ASSIGNMENT, student), f"generate_feedback {student}")
    others = {
        "feedback_nbgrader": None,
        "feedback_clear_hidden_tests": [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor],
    }
    for folder, preprocessors in others.items():
        other = _api(root, folder, preprocessors)
        checked(other.generate_feedback(ASSIGNMENT, "buggy"), f"generate_feedback ({folder})")
    return root


def _page(root: Path, student: str, folder: str = "feedback") -> Path:
    path = root / folder / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")
    assert path.is_file(), f"no feedback at {path}"
    return path


def test_the_course_configures_safe_feedback():
    api = Course().api
    assert SafeFeedback in api.config.GenerateFeedback.preprocessors
    from nbgrader.converters import GenerateFeedback

    # nbgrader's defaults are kept, in their order, with GetGrades before SafeFeedback, then SanitizeFeedback.
    configured = list(api.config.GenerateFeedback.preprocessors)
    defaults = [p for p in configured if p not in (SafeFeedback, SanitizeFeedback)]
    assert defaults == list(GenerateFeedback.class_traits()["preprocessors"].default())
    assert configured.index(SafeFeedback) == 1 and configured.index(SanitizeFeedback) == 2


def test_nbgrader_alone_leaks_hidden_tests_and_tracebacks(graded):
    leaks = _leaks(_page(graded, "buggy", "feedback_nbgrader"))
    assert {"BEGIN HIDDEN TESTS", "from autograder", "checks.check_", "Traceback", "autograder/checks"} <= set(leaks)


def test_clear_hidden_tests_alone_still_leaks_through_the_traceback(graded):
    # The cell source is cleared, but the traceback quotes the hidden lines (its context
    # lines around the failing call, the delimiters included) and the checks' own files.
    leaks = _leaks(_page(graded, "buggy", "feedback_clear_hidden_tests"))
    assert {"checks.check_", "Traceback", "autograder/checks"} <= set(leaks)


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_leaks_nothing(graded, student):
    assert _leaks(_page(graded, student)) == []


def test_feedback_shows_the_hidden_checks_diagnosis(graded):
    text, _ = _read(_page(graded, "buggy"))
    assert "CheckFailure: J(W, b) is wrong on layer sizes" in text
    assert DIAGNOSIS in text
    # The visible test caught the missing weight decay: its assert message is kept, on one line.
    assert re.search(r"AssertionError: sigmoid, layer sizes \[4, 3, 2\], m = 5, lambda_ = 0.1: dW\[0\] is wrong", text)
    assert "the weight decay term is missing (the difference is lambda_ * W)" in text
    assert "not implemented" not in text.lower()


def test_untouched_feedback_says_not_implemented_for_each_part(graded):
    text, _ = _read(_page(graded, "untouched"))
    assert text.count("NotImplementedError") >= 10


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_shows_each_parts_score_from_the_gradebook(graded, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(Path(NOTEBOOK).stem, ASSIGNMENT, student)
        expected = {g.name: (g.score, g.max_score) for g in nb.grades}
    _, markup = _read(_page(graded, student))
    shown = {
        m[1]: (float(m[2]), float(m[3]))
        for m in re.finditer(r'<code class="part-id">([\w-]+)</code>.*?Score: ([\d.]+) / ([\d.]+)', markup, flags=re.S)
    }
    assert sorted(shown) == sorted(expected) and len(shown) == 10
    for part, (score, max_score) in expected.items():
        assert shown[part] == pytest.approx((score, max_score)), part
    if student == "buggy":
        assert shown["cost_value"] == (0, 3) and shown["backprop_dW1"] == (0, 4) and shown["backprop_db1"] == (2, 2)


# ---------------------------------------------------------------- the preprocessor alone

HIDDEN = "\n".join(
    [
        "",
        "### BEGIN HIDDEN TESTS",
        "from autograder.checks import backprop as checks",
        "checks.check_cost(cost)",
        "### END HIDDEN TESTS",
    ]
)
RED = "\x1b[0;31m{}\x1b[0m"


def _test_cell(outputs, score=0.0, source="assert cost(1) == 2" + HIDDEN):
    meta = {"grade": True, "grade_id": "t", "locked": True, "points": 3, "schema_version": 3, "solution": False}
    return new_code_cell(source, metadata={"nbgrader": {**meta, "score": score}}, outputs=outputs)


def _error(ename, evalue, frames):
    header = [RED.format("-" * 75), RED.format(ename) + " " * 20 + "Traceback (most recent call last)"]
    return new_output(
        "error", ename=ename, evalue=evalue, traceback=header + frames + [f"{RED.format(ename)}: {evalue}"]
    )


def _frame(line):
    return f"Cell \x1b[0;32mIn[6], line {line}\x1b[0m\n\x1b[0;32m----> {line}\x1b[0m checks.check_cost(cost)"


def _run(*cells, config=None):
    nb = new_notebook(cells=list(cells))
    nb, _ = SafeFeedback(config=config or Config()).preprocess(nb, {})
    return nb.cells


def _only_output(cell) -> str:
    assert len(cell.outputs) == 1, cell.outputs
    out = cell.outputs[0]
    assert out.output_type == "error" and len(out.traceback) == 1
    return out.traceback[0]


def test_hidden_check_failure_keeps_its_message_only():
    frames = [_frame(4), "File \x1b[0;32m/x/site-packages/autograder/checks/backprop.py:231\x1b[0m, in check_cost"]
    (cell,) = _run(_test_cell([_error("CheckFailure", "J is wrong\n  this is what happens when X", frames)]))
    assert _only_output(cell) == "CheckFailure: J is wrong\n  this is what happens when X"
    assert "HIDDEN" not in cell.source and "autograder" not in cell.source and "assert cost(1) == 2" in cell.source


def test_other_errors_of_the_hidden_tests_lose_their_message():
    message = "cannot import name 'backprop' from 'autograder.checks' (/srv/course/autograder/checks/__init__.py)"
    (cell,) = _run(_test_cell([_error("ImportError", message, [_frame(3)])]))
    text = _only_output(cell)
    assert text.startswith("ImportError: the hidden tests of this cell could not run") and "autograder" not in text


def test_visible_errors_keep_their_message_without_paths_or_colours():
    frames = [_frame(1), "File \x1b[0;32m~/.venv/lib/site-packages/numpy/core/x.py:5\x1b[0m, in f"]
    (cell,) = _run(_test_cell([_error("ValueError", "shapes (3,4) and (5,) not aligned: see /usr/lib/x/y.py", frames)]))
    assert _only_output(cell) == "ValueError: shapes (3,4) and (5,) not aligned: see y.py"


def test_a_timed_out_cell_says_so_in_one_line():
    interrupt = _error("KeyboardInterrupt", "", [_frame(1)])
    timeout = new_output(
        "error", ename="CellTimeoutError", evalue="", traceback=[RED.format("CellTimeoutError") + ": No reply"]
    )
    config = Config()
    config.Execute.timeout = 120
    (cell,) = _run(_test_cell([interrupt, timeout]), config=config)
    assert _only_output(cell) == (
        "CellTimeoutError: this cell did not finish within the time limit of 120 s and was stopped: "
        "look for an infinite loop or very slow code"
    )


def test_a_dead_kernel_says_so_in_one_line():
    (cell,) = _run(_test_cell([new_output("error", ename="DeadKernelError", evalue="Kernel died", traceback=[])]))
    assert _only_output(cell).startswith("DeadKernelError: the Python kernel died while this cell ran")


def test_stderr_loses_paths_and_source_and_explains_the_zero():
    warning = (
        "/home/s/.venv/lib/python3.11/site-packages/autograder/checks/__init__.py:80: RuntimeWarning: overflow\n"
        "  return 1 / (1 + np.exp(-z))\n"
    )
    (cell,) = _run(_test_cell([new_output("stream", name="stderr", text=warning)]))
    texts = [o.text for o in cell.outputs]
    assert texts[0] == "RuntimeWarning: overflow\n"
    assert "stderr" in texts[1]
    plain = new_code_cell("f()", outputs=[new_output("stream", name="stderr", text=warning)])
    (cell,) = _run(plain)
    assert [o.text for o in cell.outputs] == ["RuntimeWarning: overflow\n"]


def test_errors_of_ungraded_cells_are_one_line_too():
    error = _error("NotImplementedError", "", ["Cell In[3], line 2", "File /x/site-packages/y.py:1, in g"])
    (cell,) = _run(new_code_cell("g()", outputs=[error]))
    assert _only_output(cell) == "NotImplementedError"


def _isolated(cell, score):
    isolated = {"points": 3, "score": score, "message": "", "hidden": False}
    cell.metadata["autograder"] = {"isolated": isolated, "functions": ["backprop", "x"]}
    return cell


def test_a_passed_part_whose_kernel_met_a_later_cells_name_says_why_restart_and_run_all_fails():
    """The isolated pass grades the functions once every cell ran; run from the top, nbgrader's kernel met a
    NameError (a function defined in a later cell). Full marks, and the student learns why (issue 13)."""
    evalue = "name 'backprop' is not defined"
    (cell,) = _run(_isolated(_test_cell([_error("NameError", evalue, [_frame(2)])]), score=3))
    (out,) = cell.outputs
    assert out.output_type == "stream" and "move the definition of backprop above this cell" in out.text
    # Only the name survives, rebuilt from NameError's own pattern: a crafted message shows nothing else.
    crafted = "name 'x' is not defined <script>alert(1)</script> secret"
    (cell,) = _run(_isolated(_test_cell([_error("NameError", crafted, [_frame(2)])]), score=3))
    assert "script" not in cell.outputs[0].text and "secret" not in cell.outputs[0].text
    (cell,) = _run(_isolated(_test_cell([_error("ValueError", "bad", [_frame(2)])]), score=3))
    assert cell.outputs == []  # a passed part shows nothing else
    # Only the name of a graded function: not words a student's NameError chose.
    chosen = "name 'Instructor_note_this_part_was_regraded' is not defined"
    (cell,) = _run(_isolated(_test_cell([_error("NameError", chosen, [_frame(2)])]), score=3))
    assert cell.outputs == []


def test_no_message_of_the_checks_is_withheld_as_a_quote_of_the_grader():
    """A diagnosis must reach the student: none of the checks' texts (bug names, hints) may contain a whole
    line of the autograder package, or the feedback withholds it as a quote of the grader (it once did:
    a docstring line of reference.py was also the name of a backprop bug)."""
    import ast

    from autograder import checks
    from autograder.feedback import Secrets, grader_lines

    secrets = Secrets(grader_lines())
    found = []
    for path in Path(checks.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if secrets.found_in(node.value):
                    found.append(f"{path.name}:{node.lineno}: {node.value[:80]}")
    assert not found, found


# ---------------------------------------------------------------------------------------------- addresses

#: What a page a student's work is shown in (the feedback, formgrader) makes of the images and links of a
#: Markdown cell: what an <img> may load and where an <a> leads, or None where it has no address left.
IMAGES = {
    "figure.png": "figure.png",  # a file of the notebook's own folder
    "figures/loss.png": "figures/loss.png",
    "a/../../../../logout": None,  # out of the folder (in formgrader: the instructor's /logout)
    "../figure.png": None,
    "%2e%2e/%2e%2e/logout": None,  # a browser reads %2e%2e as ..
    "..\\..\\logout": None,  # and \ as /
    "/logout": None,
    "//127.0.0.1:9/track.png": None,
    "http://127.0.0.1:9/track.png": None,
    "data:image/png;base64,iVBORw0KGgo=": "data:image/png;base64,iVBORw0KGgo=",  # the image itself
    "data:text/html;base64,PHNjcmlwdD4=": None,
    "javascript:alert(1)": None,
}
LINKS = {"#part-a": "#part-a", "page.html": None, "http://127.0.0.1:9/phish": None, "mailto:a@b.c": None}


def _addresses(page: str, tag: str, attribute: str) -> list[str | None]:
    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, name, attrs):
            if name == tag:
                found.append(dict(attrs).get(attribute))

    Parser().feed(page)
    return found


@pytest.mark.parametrize("address", IMAGES)
def test_an_image_loads_only_a_file_of_the_notebooks_folder(address):
    from autograder.feedback import safe_markdown

    assert _addresses(safe_markdown(f"![chart]({address})"), "img", "src") == [IMAGES[address]]


@pytest.mark.parametrize("address", LINKS)
def test_a_link_leads_only_to_an_anchor_in_markdown_and_in_html_outputs(address):
    """Any other shows as its text: no <a> at all, so that nothing looks like a link that leads nowhere."""
    from autograder.feedback import safe_markdown

    kept = [LINKS[address]] if LINKS[address] else []
    shown = safe_markdown(f"[see your grade]({address})")
    assert _addresses(shown, "a", "href") == kept and "see your grade" in shown
    nb = new_notebook(cells=[new_code_cell("x")])
    html_out = f'<a href="{address}">see your grade</a>'
    nb.cells[0].outputs = [new_output("display_data", data={"text/html": html_out, "text/plain": "x"})]
    nb, _ = SanitizeFeedback().preprocess(nb, {})
    shown = nb.cells[0].outputs[0].data["text/html"]
    assert _addresses(shown, "a", "href") == kept and "see your grade" in shown


def test_a_pasted_image_is_shown_and_a_missing_one_costs_no_feedback():
    """JupyterLab keeps an image pasted into a Markdown cell as the cell's attachment: it is shown (as a
    data URI); one the cell names but does not hold is left out, where it once failed the whole feedback."""
    from autograder.feedback import safe_markdown

    pasted = {"image.png": {"image/png": "iVBORw0KGgo="}}
    assert _addresses(safe_markdown("![](attachment:image.png)", pasted), "img", "src") == [
        "data:image/png;base64,iVBORw0KGgo="
    ]
    assert _addresses(safe_markdown("![](attachment:gone.png) text"), "img", "src") == [None]


#: MathJax's \href, as a student may write it where the pages typeset math (the templates load MathJax with
#: its Safe extension, which allows http, https and file addresses): plainly, and spelled with entities.
MATH_LINKS = (
    r"$\href{https://127.0.0.1:9/phish}{\text{see your full grade}}$",
    r"$&#92;href{https://127.0.0.1:9/phish}{x}$",
    r"$\h&#114;ef{https://127.0.0.1:9/phish}{x}$",
    r"$$\href {file:///etc/passwd}{x}$$",
)


def _typeset_link(page: str) -> bool:
    """Whether the text a browser reads from page (entities decoded) holds MathJax's \\href."""
    return re.search(r"\\href(?![A-Za-z])", html.unescape(page)) is not None


@pytest.mark.parametrize("math", MATH_LINKS)
def test_math_links_nowhere_in_markdown_html_latex_or_raw(math):
    from nbformat.v4 import new_raw_cell

    from autograder.feedback import safe_markdown

    assert not _typeset_link(safe_markdown(f"Your grade: {math}"))
    nb = new_notebook(cells=[new_code_cell("x"), new_raw_cell(math)])
    data = {"text/html": f"<b>{math}</b>", "text/latex": math, "text/plain": "x"}
    nb.cells[0].outputs = [new_output("display_data", data=data)]
    nb, _ = SanitizeFeedback().preprocess(nb, {})
    shown = nb.cells[0].outputs[0].data
    assert not _typeset_link(shown["text/html"]), shown
    assert not re.search(r"\\href(?![A-Za-z])", shown["text/latex"]), shown  # the template escapes it: as it is
    assert not _typeset_link(nb.cells[1].source)  # a raw cell of format text/html is shown as it is
    if "\\href" in math:
        assert "operatorname{href}" in shown["text/latex"]  # the math is shown, its \href as a word


def test_a_carriage_return_ends_no_html_block_when_the_page_renders_the_cell_again():
    """&#13; decoded is a \\r, a line break to the Markdown the templates render the cleaned cell with: a blank
    line there ended the block, and what followed was Markdown again, its link and image as written."""
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_markdown_cell

    cell = "<div>\nMy answer&#13;&#13;\n[grade](https://127.0.0.1:9/phish) ![](https://127.0.0.1:9/t.png)\n</div>"
    nb, _ = SanitizeFeedback().preprocess(new_notebook(cells=[new_markdown_cell(cell)]), {})
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert "127.0.0.1:9" not in " ".join(_addresses(page, "a", "href") + _addresses(page, "img", "src"))


@pytest.mark.parametrize("bundle", [{}, {"text/plain": "not an image"}, {"image/png": ["iVBORw0", "KGgo="]}])
def test_an_attachment_that_is_not_an_image_costs_no_feedback(bundle):
    """A notebook may name attachments with no image in them (nbformat's schema allows it): no image, the
    rest of the cell shown (the renderer once raised on it, and the notebook got no feedback)."""
    from nbformat.v4 import new_markdown_cell

    cell = new_markdown_cell("![](attachment:a.png) my answer")
    cell.attachments = {"a.png": bundle}
    nb, _ = SanitizeFeedback().preprocess(new_notebook(cells=[cell]), {})
    assert "my answer" in nb.cells[0].source and _addresses(nb.cells[0].source, "img", "src") == [None]


def test_html_of_too_many_tags_is_shown_as_text():
    """The HTML parser's time grows with the square of the tags left open: past max_cell_tags in a Markdown
    cell, max_output_tags in an output or max_tags in a notebook, the HTML is shown as text, unparsed (no tag,
    no script), where it once kept a grading worker busy until its budget ran out."""
    from nbformat.v4 import new_markdown_cell

    pile = "<script>alert(1)</script>" + "".join(f"<b id={i}>" for i in range(3000)) + "<p>x</p>" * 3000
    code = new_code_cell("x")
    code.outputs = [new_output("display_data", data={"text/html": pile, "text/plain": "x"})]
    nb, _ = SanitizeFeedback().preprocess(new_notebook(cells=[new_markdown_cell(pile), code]), {})
    for shown in (nb.cells[0].source, nb.cells[1].outputs[0].data["text/html"]):
        assert "<script" not in shown and "<b" not in shown and "&lt;script&gt;" in shown
    small = SanitizeFeedback(max_tags=10)  # the notebook's budget: a small output past it is text too
    code.outputs = [new_output("display_data", data={"text/html": "<b>bold</b>" * 6, "text/plain": "x"})]
    nb, _ = small.preprocess(new_notebook(cells=[code]), {})
    assert nb.cells[0].outputs[0].data["text/html"].startswith("&lt;b&gt;")


def _remote_addresses(page: str) -> list[str]:
    """Every address of a page that is not an anchor, a data URI or a relative path: what it would load (a script,
    a stylesheet, an image, a frame, a font in CSS) or lead to, from somewhere else."""
    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, name, attrs):
            for key, value in attrs:
                if key in ("src", "href", "srcset", "action", "poster", "data", "xlink:href") and value:
                    found.append(value.strip())

    Parser().feed(page)
    found += re.findall(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", page)
    found = [a if isinstance(a, str) else next(x for x in a if x) for a in found]
    return [a for a in found if re.match(r"(?i)([a-z][a-z0-9+.-]*:|//|\\\\)", a) and not a.startswith("data:")]


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_loads_nothing_and_its_formulas_are_mathml(graded, student):
    """No http(s) (or protocol-relative) script, stylesheet or link anywhere in the page: nbconvert's loaded
    MathJax from a CDN, and offline every formula showed as LaTeX. The formulas are MathML in the page."""
    page = _page(graded, student).read_text(encoding="utf-8")
    assert _remote_addresses(page) == []
    assert not re.search(r"<script\b[^>]*\bsrc=", page)
    assert len(re.findall(r"<math display=", page)) >= 20
    parser = _Text()  # what the browser shows: a formula's LaTeX source is its MathML's annotation, not shown
    parser.feed(re.sub(r"<annotation\b.*?</annotation>", "", page, flags=re.S))
    shown = "".join(parser.parts)
    assert "$$" not in shown and "\\frac" not in shown


def test_remote_addresses_are_found():
    """The check above can fail: nbgrader's own page loads MathJax from cdnjs."""
    page = '<script src="https://cdn.example/x.js"></script><link href="//cdn.example/a.css"><a href="#top">'
    assert _remote_addresses(page) == ["https://cdn.example/x.js", "//cdn.example/a.css"]
    assert _remote_addresses("<style>@import 'http://x/y.css'; b{background:url(data:image/png;base64,AA)}</style>")


def test_nbgraders_own_feedback_loads_mathjax_from_a_cdn(graded):
    assert any("mathjax" in a for a in _remote_addresses(_page(graded, "buggy", "feedback_nbgrader").read_text()))


def test_the_summary_and_each_test_cell_name_the_part(graded):
    """nbgrader's summary said "Test cell" for every part: here the part's title and its grade_id."""
    _, markup = _read(_page(graded, "buggy"))
    summary = re.search(r'<div id="toc">(.*?)</div>', markup, flags=re.S)[1]
    assert "Test cell" not in summary
    assert re.search(r"Part A — the cost: <code[^>]*>cost_value</code></a> \(Score: 0\.0 / 3\.0\)", summary)
    assert re.search(r"Part C — vectorized backpropagation[^<]*: <code[^>]*>backprop_dW1</code>", summary)
    assert markup.count('<span class="nbgrader-label">Part ') == 10


@pytest.mark.parametrize("rendered", [False, True])
def test_a_part_is_named_by_the_heading_above_it_in_markdown_or_as_html(rendered):
    """grade's autograded notebooks hold their Markdown cells as the HTML safe_markdown made (formgrader shows
    them): the part's title is read from either; what a submission put in the cell's metadata is replaced."""
    from nbformat.v4 import new_markdown_cell

    from autograder.feedback import name_parts, safe_markdown

    heading = "## Part B — the `tanh` <derivative> $f'(z)$ (2 points)\n\nWrite it."
    cells = [new_markdown_cell(safe_markdown(heading) if rendered else heading), new_code_cell("check()")]
    cells[1].metadata = {"nbgrader": {"grade": True, "grade_id": "tanh_prime", "points": 2}, "autograder": "mine"}
    nb = new_notebook(cells=cells)
    name_parts(nb)
    assert nb.cells[1].metadata["autograder"] == {"part": "Part B — the tanh <derivative> $f'(z)$"}


def test_the_helper_collapsed_in_the_notebook_is_collapsed_in_the_feedback(graded):
    _, markup = _read(_page(graded, "buggy"))
    collapsed = re.findall(r'<details class="sae-collapsed">(.*?)</details>', markup, flags=re.S)
    assert len(collapsed) == 1 and "def check_close(" in re.sub(r"<[^>]*>", "", collapsed[0])
    outside = re.sub(r"<[^>]*>", "", re.sub(r"<details\b.*?</details>", "", markup, flags=re.S))
    assert "def check_close(" not in outside


def test_a_long_markdown_cell_is_cut_before_it_is_rendered():
    """nbconvert's Markdown takes time growing with the square of a cell's unclosed math delimiters (120,000
    characters took 90 s): a cell is cut at max_markdown_chars first, and says so."""
    from nbformat.v4 import new_markdown_cell

    cell = new_markdown_cell("My answer. " + "\\\\(" * 50_000)
    sanitizer = SanitizeFeedback()
    nb, _ = sanitizer.preprocess(new_notebook(cells=[cell]), {})
    shown = nb.cells[0].source
    assert "My answer." in shown and "more characters cut]" in shown
    assert shown.count("\\(") <= sanitizer.max_markdown_chars // 3


def test_a_parts_title_is_found_in_time_linear_in_the_cell():
    """Headings are found by patterns that never look past the next "<" or the line's end: a megabyte of unclosed
    "<h2", of "<h2>", or one heading line of a million "#" finishes in a subprocess given 300 s, where patterns
    that backtracked took time growing with the square of the length (hours)."""
    import subprocess
    import sys

    code = (
        "from autograder.feedback import _headings\n"
        "for text in ['<h2' * 2**18, '<h2>' * 2**18, '# ' + ' #' * 2**19 + 'x', '<h2>' + '<b>' * 2**18]:\n"
        "    _headings(text)\n"
        "print(_headings('<h2 id=\"a\">Part A — <code>cost</code>¶</h2>'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=COURSE_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "['Part A — cost']", proc.stderr[-2000:]
