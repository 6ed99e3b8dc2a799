"""Instructor-side package of the sparse autoencoder course (never released to students).

- ``autograder.reference``: the reference solution of every graded function.
- ``autograder.data``: the whitened natural images, built from scikit-image's photographs.
- ``autograder.features``: the reference training and the learned-features picture.
- ``autograder.filters``: numbers that say whether learned filters are edge detectors.
- ``python -m autograder --help``: the instructors' command line.
"""

import os
import sys

__version__ = "0.1.0"


def _interpreter_bin_on_path() -> None:
    """Put the running interpreter's bin/ first on PATH (once), for the programs nbgrader runs.

    nbgrader's ``Gradebook`` runs the program ``alembic`` by name (``alembic -c … heads``), and
    pip installs it next to the interpreter. ``.venv/bin/python -m autograder`` does not put
    ``.venv/bin`` on PATH, so on a machine with nothing else every gradebook, release and
    autograde failed with ``FileNotFoundError: 'alembic'``. The directory is the one of
    ``sys.executable`` as called, not resolved: a venv's python is a symlink to the base one.
    Child processes (grading workers, kernels) inherit the PATH.
    """
    here = os.path.dirname(sys.executable)
    if not here:
        return
    path = os.environ.get("PATH", "")
    if here not in path.split(os.pathsep):
        os.environ["PATH"] = here + (os.pathsep + path if path else "")


_interpreter_bin_on_path()

# jsonschema, imported by nbformat, tries the optional rfc3987_syntax for its "iri" formats; that
# package compiles a Lark grammar at import, seconds in every grading process, for a format
# no notebook schema uses. Tell jsonschema it is absent (it then skips those formats, as documented).
sys.modules.setdefault("rfc3987_syntax", None)
