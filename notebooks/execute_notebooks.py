"""Re-execute lecture notebooks in place, so that their stored outputs are the ones nbval compares.

    python notebooks/execute_notebooks.py                  # every lecture notebook, both editions
    python notebooks/execute_notebooks.py notebooks/zh/04_visualization.ipynb   # only these
    python notebooks/execute_notebooks.py --sync-code      # first copy the English code cells into zh/

Each notebook runs top to bottom in a fresh kernel started in its own folder (as nbval and Jupyter do), and is
written back with its outputs and execution counts; per-cell timing metadata is not kept, so re-running an
unchanged notebook changes nothing. A notebook whose run shows an error or writes to stderr (a warning, e.g.
a glyph missing from the font) is not written back.

``--sync-code`` copies the source of every code cell of ``notebooks/X.ipynb`` into the code cells of
``notebooks/zh/X.ipynb`` (matched in order), the rule tests/test_notebooks.py checks: the two editions differ
only in their Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CHINESE = HERE / "zh"


def lecture_notebooks() -> list[Path]:
    """Every lecture notebook: the English edition, then the Chinese one."""
    return sorted(HERE.glob("*.ipynb")) + sorted(CHINESE.glob("*.ipynb"))


def sync_code(english: Path) -> bool:
    """Copy the code cells of an English notebook into its Chinese counterpart; True if that changed it."""
    chinese = CHINESE / english.name
    en, zh = nbformat.read(english, as_version=4), nbformat.read(chinese, as_version=4)
    en_code = [cell for cell in en.cells if cell.cell_type == "code"]
    zh_code = [cell for cell in zh.cells if cell.cell_type == "code"]
    if len(en_code) != len(zh_code):
        raise SystemExit(
            f"{chinese}: {len(zh_code)} code cells, {english.name} has {len(en_code)}; add or remove cells first"
        )
    changed = False
    for source, target in zip(en_code, zh_code):
        if target.source != source.source:
            target.source = source.source
            changed = True
    if changed:
        nbformat.write(zh, chinese)
    return changed


def execute(path: Path, timeout: int = 300) -> float:
    """Run a notebook in a fresh kernel in its folder and store its outputs; return the seconds it took."""
    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = join_streams(cell.outputs)
    problems = unwanted_outputs(nb)
    if problems:
        raise SystemExit(f"{path}: not stored, fix these first:\n" + "\n".join(problems))
    nbformat.write(nb, path)
    return time.perf_counter() - start


def join_streams(outputs: list) -> list:
    """Join consecutive outputs to the same stream (the kernel splits them by timing, nbval joins them too)."""
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if (
            output.output_type == "stream"
            and previous
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            joined.append(output)
    return joined


def unwanted_outputs(nb) -> list[str]:
    """Errors and anything written to stderr (warnings such as "Glyph ... missing from font"), per cell."""
    problems = []
    for number, cell in enumerate(nb.cells, 1):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"cell {number}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"cell {number}: stderr: {output.text.strip()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all of them)")
    parser.add_argument("--sync-code", action="store_true", help="copy the English code cells into zh/ first")
    args = parser.parse_args(argv)
    if args.sync_code:
        for english in sorted(HERE.glob("*.ipynb")):
            if sync_code(english):
                print(f"synced code cells into zh/{english.name}")
    paths = [path.resolve() for path in args.notebooks] or lecture_notebooks()
    for path in paths:
        print(f"{execute(path):5.1f} s  {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
