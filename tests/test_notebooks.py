"""The lecture notebooks: notebooks/ (English) and notebooks/zh/ (Chinese), committed with their outputs.

* nbval in strict mode re-runs every lecture notebook and compares every stored text output (run only on
  notebooks/, in a subprocess: never on release/, source/, submitted/ or build/);
* strict mode bites: a notebook with one altered output fails it (and passes --nbval-lax);
* every code cell is stored executed, in order, with no error and nothing on stderr;
* the Chinese edition has the same code cells and the same outputs as the English one;
* no figure needs a glyph that Matplotlib's bundled fonts lack;
* the lectures give away no graded function of the assignments and never import the autograder.
"""

from __future__ import annotations

import ast
import inspect
import io
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

COURSE_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = COURSE_ROOT / "notebooks"
CHINESE = NOTEBOOKS / "zh"
SANITIZE = NOTEBOOKS / "nbval_sanitize.cfg"
ENGLISH = sorted(NOTEBOOKS.glob("*.ipynb"))
ALL = ENGLISH + sorted(CHINESE.glob("*.ipynb"))
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

# One lecture notebook per section of the notes (§2 is split into 2.1, 2.2 and 2.3).
SECTIONS = [
    "01_introduction",
    "02_1_neural_networks",
    "02_2_backpropagation",
    "02_3_gradient_checking",
    "03_autoencoders_and_sparsity",
    "04_visualization",
    "05_notation",
]


def _read(path):
    return nbformat.read(path, as_version=4)


def _code_cells(path):
    return [cell for cell in _read(path).cells if cell.cell_type == "code"]


def _nbval(paths, *options, cwd, python=sys.executable):
    """Run pytest --nbval (strict unless options say otherwise) on paths in a subprocess of python."""
    command = [
        str(python),
        "-m",
        "pytest",
        *(options or ("--nbval",)),
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "120",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",  # a notebook's cells run in their order: pytest-randomly (the test extra) would shuffle them
        "-q",
        *map(str, paths),
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_one_lecture_per_section_in_both_editions_listed_in_the_readme():
    assert [path.stem for path in ENGLISH] == SECTIONS
    assert sorted(path.name for path in CHINESE.glob("*.ipynb")) == [path.name for path in ENGLISH]
    readme = (NOTEBOOKS / "README.md").read_text()
    for name in SECTIONS:
        assert f"{name}.ipynb" in readme, f"notebooks/README.md does not list {name}.ipynb"


def test_the_trained_weights_are_those_of_assignment_06():
    np.testing.assert_array_equal(
        np.load(NOTEBOOKS / "data" / "W1.npy"), np.load(COURSE_ROOT / "source" / "06_visualization" / "W1.npy")
    )


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_every_code_cell_is_stored_executed_in_order_without_errors_or_stderr(path):
    cells = _code_cells(path)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
        "run the notebook top to bottom: python notebooks/execute_notebooks.py"
    )
    for number, cell in enumerate(cells, 1):
        for output in cell.outputs:
            assert output.output_type != "error", f"code cell {number}: {output.get('ename')}"
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"code cell {number} wrote to stderr: {output.text[:200]}"
            )
        if "plt.show()" in cell.source:
            assert any("image/png" in output.get("data", {}) for output in cell.outputs), f"code cell {number}"
    assert sum(len(cell.outputs) for cell in cells) >= len(cells) - 1  # strict nbval has something to compare


def test_nbval_strict_mode_passes_on_every_lecture_notebook():
    """All of notebooks/ (both editions) re-run by nbval, every stored text output compared."""
    start = time.perf_counter()
    result = _nbval([NOTEBOOKS], cwd=COURSE_ROOT)
    seconds = time.perf_counter() - start
    report = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    cells = sum(len(_code_cells(path)) for path in ALL)
    assert re.search(rf"\b{cells} passed\b", result.stdout), report  # every code cell was an nbval item
    print(f"nbval --nbval on {len(ALL)} notebooks ({cells} cells): {seconds:.1f} s")


def test_strict_mode_fails_on_an_altered_output_where_lax_mode_does_not(tmp_path):
    """Proof that the stored outputs are checked: change one printed number and nbval --nbval fails."""
    copy = tmp_path / "notebooks"
    copy.mkdir()
    shutil.copy(NOTEBOOKS / "lecture_figures.py", copy)
    shutil.copytree(NOTEBOOKS / "data", copy / "data")
    nb = _read(NOTEBOOKS / "05_notation.ipynb")
    stream = next(
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream" and "len(theta) = 3289" in output.text
    )
    stream.text = stream.text.replace("len(theta) = 3289", "len(theta) = 3290")
    nbformat.write(nb, copy / "05_notation.ipynb")

    strict = _nbval([copy / "05_notation.ipynb"], "--nbval", cwd=tmp_path)
    assert strict.returncode != 0, strict.stdout[-3000:]
    assert "Cell outputs differ" in strict.stdout and "3290" in strict.stdout, strict.stdout[-3000:]
    assert re.search(r"\b1 failed\b", strict.stdout), strict.stdout[-3000:]
    lax = _nbval([copy / "05_notation.ipynb"], "--nbval-lax", cwd=tmp_path)
    assert lax.returncode == 0, lax.stdout[-3000:]


def _comparable(outputs):
    """What must agree between the editions: streams (joined, as nbval does) and text exactly, images by presence."""
    out = []
    for output in outputs:
        if output.output_type == "stream":
            if out and out[-1][0] == output.name:
                out[-1] = (output.name, out[-1][1] + output.text)
            else:
                out.append((output.name, output.text))
        elif output.output_type in ("display_data", "execute_result"):
            out.append((sorted(output.data), output.data.get("text/plain")))
        else:
            out.append((output.output_type,))
    return out


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_edition_has_the_same_code_and_outputs(english):
    chinese = CHINESE / english.name
    en_code, zh_code = _code_cells(english), _code_cells(chinese)
    assert [c.source for c in zh_code] == [c.source for c in en_code], (
        f"zh/{english.name}: code cells differ; python notebooks/execute_notebooks.py --sync-code"
    )
    for number, (en_cell, zh_cell) in enumerate(zip(en_code, zh_code), 1):
        assert _comparable(zh_cell.outputs) == _comparable(en_cell.outputs), f"code cell {number}"
    zh_markdown = "".join(cell.source for cell in _read(chinese).cells if cell.cell_type == "markdown")
    assert len(CJK.findall(zh_markdown)) > 200, "the Chinese edition should be written in Chinese"


def _prose(markdown: str) -> str:
    """Markdown without code spans, math and HTML tags: the sentences."""
    for pattern in (r"`[^`]*`", r"\$\$.*?\$\$", r"\$[^$]*\$", r"<[^>]*>"):
        markdown = re.sub(pattern, "", markdown, flags=re.S)
    return markdown


def test_english_text_has_no_chinese_character():
    """Where no CJK font is installed a Chinese character is an empty box, and it means nothing to an English reader:
    the English text cites "note 1.2.3 of the Chinese translation", not its Chinese label."""
    for path in ENGLISH + sorted((COURSE_ROOT / "source").glob("*/*.ipynb")):
        for number, cell in enumerate(_read(path).cells, 1):
            assert not CJK.search(cell.source), f"{path.relative_to(COURSE_ROOT)} cell {number}: {cell.source[:80]!r}"


def test_chinese_prose_uses_chinese_quotation_marks():
    for path in sorted(CHINESE.glob("*.ipynb")):
        for number, cell in enumerate(_read(path).cells, 1):
            if cell.cell_type == "markdown":
                quoted = [line for line in _prose(cell.source).splitlines() if '"' in line]
                assert not quoted, f"zh/{path.name} cell {number}: use “ ” in {quoted}"


#: The notes' equation numbers (and the course's (G1)-(G2), which the notes leave unnumbered) -> the UFLDL
#: translation's number of the same equation; notebooks/README.md shows the whole table.
CONCORDANCE = {"1": "1.1.1", "6": "1.1.6", "7": "1.1.7", "8": "1.2.9", "G1": "1.2.12", "G2": "1.2.13"}
#: The translation's numbers: (1.1.1)-(1.1.7), (1.2.8)-(1.2.15), (1.3.16)-(1.3.30).
SEED_NUMBERS = {
    f"1.{s}.{n}" for s, numbers in ((1, range(1, 8)), (2, range(8, 16)), (3, range(16, 31))) for n in numbers
}


def _tags(path) -> list[str]:
    markdown = "".join(cell.source for cell in _read(path).cells if cell.cell_type == "markdown")
    return [a or b for a, b in re.findall(r"\\tag\{([^}]*)\}|&& \(([\d.]+)\)", markdown)]


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.stem)
def test_each_edition_numbers_equations_as_its_notes_do(english):
    """English: the notes' (1)-(8) and the course's (G1)-(G2); Chinese: the translation's (1.1.1)-(1.3.30),
    every English-numbered equation of the notebook under its Chinese number too."""
    en_tags, zh_tags = _tags(english), _tags(CHINESE / english.name)
    assert set(en_tags) <= {str(n) for n in range(1, 9)} | {"G1", "G2"}, en_tags
    assert set(zh_tags) <= SEED_NUMBERS, zh_tags
    assert len(zh_tags) == len(set(zh_tags)), f"zh/{english.name}: a number twice: {zh_tags}"
    missing = [f"({t}) -> ({CONCORDANCE[t]})" for t in en_tags if t in CONCORDANCE and CONCORDANCE[t] not in zh_tags]
    assert not missing, f"zh/{english.name} lacks the translation's number of {missing}"


def test_the_readme_gives_the_concordance_of_equation_numbers():
    lines = (NOTEBOOKS / "README.md").read_text().splitlines()
    for english, chinese in CONCORDANCE.items():
        assert any(f"({english})" in line and f"({chinese})" in line for line in lines), (english, chinese)


#: Where the Chinese edition gives each note, figure and algorithm of the translation's §1.1-§1.3.
TRANSLATION_LABELS = {
    "02_1_neural_networks": ["注 1.1.1", "注 1.1.2", "注 1.1.3"] + [f"图 1.{n}" for n in range(1, 6)],
    "02_2_backpropagation": ["注 1.2.1", "注 1.2.2", "注 1.2.3", "图 1.6", "算法 1.2.1"],
    "03_autoencoders_and_sparsity": ["注 1.3.1", "图 1.7", "图 1.8"],
}


@pytest.mark.parametrize("name", TRANSLATION_LABELS)
def test_the_chinese_edition_gives_every_note_and_figure_of_the_translation(name):
    markdown = "".join(cell.source for cell in _read(CHINESE / f"{name}.ipynb").cells if cell.cell_type == "markdown")
    assert [label for label in TRANSLATION_LABELS[name] if label not in markdown] == []


@pytest.mark.parametrize(
    ("name", "note"), [("02_2_backpropagation", "注 1.2.3"), ("03_autoencoders_and_sparsity", "注 1.3.1")]
)
def test_the_translations_two_extra_derivations_are_there(name, note):
    markdown = "".join(cell.source for cell in _read(CHINESE / f"{name}.ipynb").cells if cell.cell_type == "markdown")
    assert note in markdown
    english = "".join(cell.source for cell in _read(NOTEBOOKS / f"{name}.ipynb").cells if cell.cell_type == "markdown")
    assert f"note {note.split()[1]} of the Chinese translation" in english


def _draw_every_figure():
    """Every drawing helper of notebooks/lecture_figures.py, rendered to PNG; the warnings it raised."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import lecture_figures as lf
    finally:
        sys.path.remove(str(NOTEBOOKS))
    figures = [
        lf.single_neuron().figure,
        lf.network_331(edge_labels={(0, 1, 0): "$W^{(1)}_{12}$"}).figure,
        lf.network_3322().figure,
        lf.autoencoder().figure,
        lf.backprop_flow().figure,
        lf.show_patches(np.load(NOTEBOOKS / "data" / "W1.npy").T),
        lf.show_patches(np.full((64, 3), 0.5), fig=plt.figure().subfigures(1, 2)[0], limits=(0.1, 0.9)).figure,
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for figure in figures:
            figure.savefig(io.BytesIO(), format="png", bbox_inches="tight")
    plt.close("all")
    return [str(w.message) for w in caught]


def test_figures_need_no_glyph_that_the_bundled_fonts_lack():
    assert _draw_every_figure() == []
    for path in ALL:  # figure labels come from code cells: keep them language-neutral
        for number, cell in enumerate(_code_cells(path), 1):
            assert not CJK.search(cell.source), f"{path.name} code cell {number}: CJK text would miss glyphs"
    assert not CJK.search((NOTEBOOKS / "lecture_figures.py").read_text())


def test_the_glyph_check_can_fail():
    """A Chinese label does raise Matplotlib's missing-glyph warning here, so the check above means something."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("稀疏自编码器")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    assert any("missing from font" in str(w.message) for w in caught)


def _graded_functions():
    from autograder import reference

    return {
        name
        for name, obj in vars(reference).items()
        if inspect.isfunction(obj) and obj.__module__ == reference.__name__ and not name.startswith("_")
    }


def _defined_names(source):
    tree = ast.parse(source)
    names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in ast.walk(tree):  # name = lambda ...
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _imports_autograder(source):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "autograder" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "autograder":
            return True
    return False


def test_the_lectures_give_away_no_graded_function_and_never_import_the_autograder():
    graded = _graded_functions()
    assert {"backprop", "sparse_autoencoder_cost", "numerical_gradient", "display_network"} <= graded
    sources = {
        f"{path.relative_to(NOTEBOOKS)} cell {n}": c.source for path in ALL for n, c in enumerate(_code_cells(path), 1)
    }
    for module in NOTEBOOKS.glob("*.py"):
        sources[module.name] = module.read_text()
    for where, source in sources.items():
        assert not (_defined_names(source) & graded), f"{where} defines {_defined_names(source) & graded}"
        assert not _imports_autograder(source), f"{where} imports the autograder (instructor-side)"


def test_ruff_finds_nothing_in_the_lectures_code():
    """pyproject's ruff settings exclude notebooks/ from `ruff check .`; named explicitly, its files are checked."""
    files = [str(p) for p in sorted(NOTEBOOKS.glob("*.py"))] + [str(p) for p in ALL]
    for command in (["check"], ["format", "--check"]):
        proc = subprocess.run([sys.executable, "-m", "ruff", *command, *files], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_kl_figure_shows_both_branches_leaving_the_plot():
    """The text says KL(rho || rho_hat) grows without bound as rho_hat nears 0 or 1: the figure's curve must leave
    the top of the plot on both sides of rho (a grid from 1e-6 stopped the left branch at 2.26, below the top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (cell,) = [c for c in _code_cells(NOTEBOOKS / "03_autoencoders_and_sparsity.ipynb") if "def kl(" in c.source]
    namespace = {"np": np, "plt": plt}
    plt.close("all")
    show, plt.show = plt.show, lambda *args, **kwargs: None
    try:
        exec(cell.source, namespace)
        ((line,), top) = plt.gca().get_lines()[:1], plt.gca().get_ylim()[1]
        x, y = line.get_data()
    finally:
        plt.show = show
        plt.close("all")
    rho = namespace["rho"]
    assert y[x < rho].max() > top and y[x > rho].max() > top, (y[x < rho].max(), y[x > rho].max(), top)
    assert x.min() <= 1e-9 and 1 - x.max() <= 1e-9
