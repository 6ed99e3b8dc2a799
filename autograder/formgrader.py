"""Formgrader's Autograde button, through the course's sandboxed pipeline.

nbgrader's formgrader grades a submission when an instructor clicks its Autograde button with plain
``nbgrader autograde``: the hidden tests run inside the student's kernel, unsandboxed, with the
instructor's rights, and the autograded notebook keeps the ``### BEGIN HIDDEN TESTS`` blocks. One click
would undo the threat model (docs/threat-model.md). Here the button runs what ``python -m autograder grade
ASSIGNMENT --student=STUDENT`` runs (the isolated pass, the sandboxed kernel, the safe feedback), in a
process of its own, and formgrader shows its output.

How: formgrader's handlers make an ``NbGraderAPI`` for every request, right after loading the course's
``nbgrader_config.py`` again (nbgrader 0.9's ``BaseHandler.api``). That file calls ``install()``, which,
in a process where formgrader is loaded (and only there), makes the name they use
(``nbgrader.server_extensions.formgrader.base.NbGraderAPI``) ``SandboxedAPI``. So whatever starts
formgrader (JupyterLab on a laptop, the hub's service), the course's own configuration decides how it
grades: nothing to install or enable. tests/test_browser.py clicks the button and checks the result.
"""

from __future__ import annotations

import subprocess
import sys

from nbgrader.apps.api import NbGraderAPI

from .options import DEFAULTS

#: Seconds formgrader waits for one student's grading: grade's own budget per student.
TIMEOUT = DEFAULTS.timeout
#: Characters of grade's output shown in formgrader's dialog.
MAX_LOG = 20000


class SandboxedAPI(NbGraderAPI):
    """nbgrader's API whose ``autograde`` is the course's ``grade`` of one submission."""

    def autograde(self, assignment_id, student_id, force=True, create=True):
        """Grade one submission as ``python -m autograder grade`` does, in a process of its own; nbgrader's
        result dictionary (success, log, error). force and create are always so (grade regrades, and makes
        the student)."""
        root = self.coursedir.root
        cmd = [sys.executable, "-m", "autograder", "grade", f"--student={student_id}", f"--course={root}", "--"]
        cmd.append(assignment_id)  # after "--": a name that starts with "-" is a name, not an option
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=root
            )
        except subprocess.TimeoutExpired:
            return {"success": False, "error": f"grading {student_id}'s {assignment_id} took over {TIMEOUT} s"}
        log = (proc.stdout + proc.stderr)[-MAX_LOG:]
        if proc.returncode != 0:
            said = f"{' '.join(cmd[1:])} failed (exit status {proc.returncode})"
            return {"success": False, "log": log, "error": said}
        return {"success": True, "log": log}


def install() -> None:
    """In a process where formgrader is loaded, make its Autograde button ``SandboxedAPI.autograde``, and its
    pages typeset formulas as MathML with no MathJax from a CDN (``offline_math.OfflineMathExporter``, the
    class formgrader makes its exporter of when it starts, after loading this configuration). Called by the
    course's nbgrader_config.py; elsewhere it does nothing."""
    base = sys.modules.get("nbgrader.server_extensions.formgrader.base")
    if base is not None and getattr(base, "NbGraderAPI", None) is not SandboxedAPI:
        base.NbGraderAPI = SandboxedAPI
    extension = sys.modules.get("nbgrader.server_extensions.formgrader.formgrader")
    if extension is not None:
        from .offline_math import OfflineMathExporter

        extension.HTMLExporter = OfflineMathExporter
