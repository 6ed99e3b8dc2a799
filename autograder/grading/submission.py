"""What of a submitted folder reaches grading: plain files and folders, copied without
following anything.

A symbolic link (to the course's source, to another student's notebook, or to nothing), a
device, a pipe, a file over MAX_SUBMITTED_BYTES, or a notebook that is not a notebook is not
copied: that file is graded as missing, and the table says why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: A submitted file larger than this is not copied (the course's largest data file is a few MB).
MAX_SUBMITTED_BYTES = 64 * 2**20


def copy_submission(src: Path, dest: Path) -> list[str]:
    """Copy a submitted folder's plain files and folders to dest; what was refused, in words."""
    refused: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_symlink() or not src.is_dir():
        return [f"{src.name}/ is not a folder: nothing of it is graded"]
    for path in sorted(src.rglob("*")):  # rglob enters no linked folder: the link is reported instead
        rel = path.relative_to(src)
        if path.is_symlink():
            refused.append(f"{rel} is a symbolic link: graded as missing")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            refused.append(f"{rel} is not a plain file: graded as missing")
        elif path.stat().st_size > MAX_SUBMITTED_BYTES:
            refused.append(f"{rel} is larger than {MAX_SUBMITTED_BYTES // 2**20} MiB: graded as missing")
        elif path.suffix == ".ipynb" and not is_notebook(path):
            refused.append(f"{rel} is not a notebook nbgrader can read: graded as missing")
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel, follow_symlinks=False)
    return refused


def is_notebook(path: Path) -> bool:
    """Whether nbformat reads and validates path, and every cell's nbgrader metadata is a dict."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        return all(isinstance(c.get("metadata", {}).get("nbgrader", {}), dict) for c in nb.cells)
    except Exception:  # whatever it is, it is not a notebook: graded as missing
        return False
