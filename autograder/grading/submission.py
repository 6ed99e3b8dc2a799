"""What of a submitted folder reaches grading: plain files and folders, copied without
following anything.

A symbolic link (to the course's source, to another student's notebook, or to nothing), a
device, a pipe, a file whose name holds a control character, a file over MAX_SUBMITTED_BYTES, a
notebook over MAX_NOTEBOOK_BYTES or that is not a notebook, or anything past MAX_SUBMITTED_FILES
entries or MAX_SUBMITTED_BYTES in all is not copied: that file is graded as missing, and the table
says why. The bounds keep this step, which runs before the student's time budget starts, short.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

#: What one submitted folder may hold: bytes in all (the course's largest data file is a few MB),
#: bytes per notebook (a release notebook is tens of kB; its figures, a few MB), files and folders.
MAX_SUBMITTED_BYTES = 64 * 2**20
MAX_NOTEBOOK_BYTES = 16 * 2**20
MAX_SUBMITTED_FILES = 1000


def copy_submission(src: Path, dest: Path) -> list[str]:
    """Copy a submitted folder's plain files and folders to dest; what was refused, in words."""
    refused: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_symlink() or not src.is_dir():
        return [f"{src.name}/ is not a folder: nothing of it is graded"]
    total = 0
    for count, path in enumerate(sorted(src.rglob("*"))):  # rglob enters no linked folder: the link is reported
        rel = path.relative_to(src)
        size = path.lstat().st_size
        if count >= MAX_SUBMITTED_FILES:
            refused.append(f"more than {MAX_SUBMITTED_FILES} files and folders: the rest is graded as missing")
            break
        if any(unicodedata.category(c)[0] == "C" for c in str(rel)):
            refused.append(f"{ascii(str(rel))} has a control character in its name: graded as missing")
        elif path.is_symlink():
            refused.append(f"{rel} is a symbolic link: graded as missing")
        elif path.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            refused.append(f"{rel} is not a plain file: graded as missing")
        elif total + size > MAX_SUBMITTED_BYTES:
            refused.append(f"{rel} goes past {MAX_SUBMITTED_BYTES // 2**20} MiB in all: graded as missing")
        elif path.suffix == ".ipynb" and size > MAX_NOTEBOOK_BYTES:
            refused.append(f"{rel} is a notebook larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB: graded as missing")
        elif path.suffix == ".ipynb" and not is_notebook(path):
            refused.append(f"{rel} is not a notebook nbgrader can read: graded as missing")
        else:
            total += size
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
