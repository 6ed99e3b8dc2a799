"""Formulas typeset as MathML when a page is made (autograder/offline_math.py): what is typeset, what is left
alone, and that a formula cannot bring a script, a link or a foreign element into the page.

The pages themselves (feedback, formgrader, JupyterLab's HTML viewer), in Chromium: tests/test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from autograder.course import COURSE_ROOT
from autograder.offline_math import mathml, typeset


def test_display_and_inline_formulas_become_mathml():
    out = typeset(r"<p>the cost $J(W,b)$ is</p><p>$$J = \frac{1}{m} \sum_i J_i$$</p>")
    assert out.count("<math") == 2
    assert '<math display="inline">' in out and '<math display="block">' in out
    assert "$" not in out.replace('encoding="application/x-tex"', "")
    assert "<mfrac>" in out and "the cost " in out and " is</p>" in out


@pytest.mark.parametrize(
    "written",
    [r"\(x_1\)", r"\[x_1\]", r"\begin{align} x_1 \end{align}", "$x_1$", "$$x_1$$"],
)
def test_mathjax_delimiters_are_all_read(written):
    out = typeset(f"<p>see {written}.</p>")
    assert out.count("<math") == 1 and "<msub>" in out, out
    assert out.startswith("<p>see <") and out.endswith(">.</p>"), out


def test_a_tag_is_a_number_at_the_right_of_the_display():
    out = mathml(r"J = \frac{1}{2} \tag{8} \label{eq:cost}", True)
    assert out.endswith('<span class="sae-math-tag">(8)</span></span>'), out
    assert "label" not in out.split("<annotation")[0] and "(8)" not in out.split("<annotation")[0]


def test_the_latex_source_is_kept_as_an_annotation_escaped():
    out = mathml(r"a < b", False)
    assert '<annotation encoding="application/x-tex">a &lt; b</annotation>' in out


@pytest.mark.parametrize(
    "tex",
    [
        r"\text{<script>alert(1)</script>}",
        r"\text{<img src=x onerror=alert(1)>}",
        r"\text{</mtext></math><script>alert(1)</script>}",
        r"\href{https://127.0.0.1:9/phish}{\text{your grade}}",
        r"\text{<a href='https://127.0.0.1:9/'>x</a>}",
        r"\text{<style>body{display:none}</style>}",
    ],
)
def test_a_formula_brings_no_script_link_or_foreign_element(tex):
    for display in (True, False):
        out = mathml(tex, display)
        tags = set(re.findall(r"<([a-zA-Z][\w-]*)", out))
        assert tags <= {"math", "semantics", "annotation", "mrow", "mtext", "mi", "mo", "mn", "span", "mspace"}, out
        attributes = {name for tag in re.findall(r"<[^>]*>", out) for name in re.findall(r"\s([\w-]+)=", tag)}
        assert attributes <= {"display", "encoding", "class", "stretchy", "fence", "form"}, out


@pytest.mark.parametrize(
    "fragment",
    [
        "<code>$x$ and $y$</code>",
        "<pre>price: $5, $6\n$$x$$</pre>",
        '<span title="$x$ and $y$">text</span>',
        "<!-- $x$ -->",
        "<p>no formula here</p>",
    ],
)
def test_code_attributes_comments_and_plain_text_are_left_alone(fragment):
    assert typeset(fragment) == fragment


def test_an_escaped_dollar_is_a_dollar():
    assert typeset(r"<p>\$5 and \$6</p>") == "<p>$5 and $6</p>"


def test_entities_are_read_as_the_browser_reads_them_and_text_stays_escaped():
    out = typeset("<p>&lt;b&gt; then $a &lt; b$</p>")
    assert out.startswith("<p>&lt;b&gt; then <math") and "<mo>&lt;</mo>" in out.replace("&#x0003C;", "&lt;")


def test_a_formula_the_converter_cannot_read_stays_as_its_source():
    out = typeset(r"<p>$\frac{1}{$</p>")
    assert '<code class="sae-tex">$\\frac{1}{$</code>' in out, out


def test_every_formula_of_the_course_is_typeset():
    """Every formula of the assignments' and lectures' Markdown, as latex2mathml reads it (no fallback)."""
    formula = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)
    paths = sorted((COURSE_ROOT / "source").glob("*/*.ipynb")) + sorted((COURSE_ROOT / "notebooks").rglob("*.ipynb"))
    count, unread = 0, []
    for path in paths:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for found in formula.finditer("".join(cell["source"])):
                count += 1
                out = mathml(found[1] or found[2], found[1] is not None)
                if "sae-tex" in out or "<merror" in out:
                    unread.append(f"{path.name}: {found[0][:80]}")
    assert count > 1000 and not unread, unread[:10]


def test_a_page_typesets_no_more_than_its_budget():
    """Past MAX_FORMULAS (or MAX_PAGE_TEX_CHARS, or a formula past MAX_FORMULA_CHARS) a formula stays as its
    source, escaped: a submission of a million formulas makes no page of hours and gigabytes."""
    from autograder import offline_math

    many = "".join(f"$a_{{{i}}} &lt; b$ " for i in range(offline_math.MAX_FORMULAS + 5))
    budget = offline_math.Budget()
    out = typeset(f"<p>{many}</p>", budget)
    assert out.count("<math") == offline_math.MAX_FORMULAS and budget.formulas == 0
    assert out.endswith(f"$a_{{{offline_math.MAX_FORMULAS + 4}}} &lt; b$ </p>")
    assert typeset("<p>$x$</p>", budget) == "<p>$x$</p>"  # the same page: nothing left
    long = "x+" * offline_math.MAX_FORMULA_CHARS
    assert "<math" not in typeset(f"<p>${long}$</p>")


def test_a_long_formula_is_not_kept_in_the_cache():
    from autograder import offline_math

    before = offline_math._mathml_cached.cache_info().currsize
    mathml("y+" * offline_math.CACHED_CHARS, False)
    assert offline_math._mathml_cached.cache_info().currsize == before


#: Text that made a regex "opener, anything, closer" look from each unclosed opener to the end: 40,000 "\(" took
#: 75 s in a review (the time grows with the square of the length); the scanner reads each character once.
UNCLOSED = ["\\(", "\\[", "\\begin{align}", "\\begin{cases}x", "$$x", "\\begin{a}", "$$", "$"]


def test_unclosed_delimiters_cost_time_linear_in_the_text():
    """A megabyte of each is typeset in a subprocess given 300 s, where the quadratic scan needed hours: a margin of
    three orders of magnitude, whatever the machine's load (measured here: under 0.5 s for 400,000 characters)."""
    import subprocess
    import sys

    code = (
        "from autograder.offline_math import typeset\n"
        f"for unit in {UNCLOSED!r}:\n"
        "    out = typeset('<p>' + unit * (2**20 // len(unit)) + '</p>')\n"
        "    assert '<math' not in out or unit.startswith('$$x'), unit\n"
        "print('done')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=COURSE_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-2000:]


def test_the_feedback_page_typesets_an_instructors_comment_and_a_latex_output():
    """The feedback template renders a comment (formgrader's) with markdown2html and a text/latex output (IPython's
    Math) through typeset: both MathML, the page with no script."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from autograder.offline_math import TEMPLATES, FeedbackExporter

    cell = new_code_cell("def cost(): ...")
    comment = r"Divide by $\frac{1}{m}$."
    cell.metadata.nbgrader = {"solution": True, "grade": False, "grade_id": "cost", "comment": comment}
    out = new_code_cell("show()")
    out.outputs = [new_output("display_data", data={"text/latex": r"$\displaystyle \rho_j$", "text/plain": "rho"})]
    from nbgrader.converters import generate_feedback

    # where GenerateFeedback finds the bootstrap.min.css the template includes
    nbgrader = Path(generate_feedback.__file__).parent.parent
    bootstrap = nbgrader / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
    exporter = FeedbackExporter(  # as nbgrader_config.py configures it
        template_name="sae_feedback", extra_template_basedirs=[str(TEMPLATES)], extra_template_paths=[str(bootstrap)]
    )
    resources = {"nbgrader": {"notebook": "cost", "score": 0, "max_score": 1, "late_penalty": 0}}
    page, _ = exporter.from_notebook_node(new_notebook(cells=[cell, out]), resources)
    shown = page[page.index("Comments:") :]
    assert "<mfrac>" in shown[:2000] and "$" not in shown[:300]
    latex = page[page.index("output_latex") :][:1500]
    assert '<math display="inline">' in latex and "\\rho" not in latex.split("<annotation")[0]
    assert "<script" not in page


def test_a_pages_templates_are_compiled_once_a_process(monkeypatch):
    """nbgrader makes an exporter for each notebook's page; Jinja compiled its templates again for each (0.37 s
    of 03's page). They are compiled for the first page of a process only, and the pages are the same."""
    import jinja2
    import nbformat

    from autograder import offline_math

    offline_math.compiled.cache_clear()
    compiles = []
    compile_ = jinja2.Environment.compile

    def counted(self, source, name=None, filename=None, *args, **kwargs):
        compiles.append(name)
        return compile_(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("The cost $J(W,b)$."), nbformat.v4.new_code_cell("print(1)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    first, _ = offline_math.OfflineMathExporter().from_notebook_node(nb)
    assert compiles and "$J" not in first and "<math" in first
    compiled = len(compiles)
    second, _ = offline_math.OfflineMathExporter().from_notebook_node(nb)  # a new exporter, as for the next page
    assert len(compiles) == compiled and second == first
