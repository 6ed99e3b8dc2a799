"""nbgrader configuration of the sparse autoencoder course (this folder is the course root)."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "sparse-autoencoder"

# Seconds one cell may run while nbgrader autogrades. Assignment 05's training cell (400 L-BFGS
# iterations) is skipped then (NBGRADER_EXECUTION): the graded cells are short, and a slow but
# correct solution (per-example loops) still finishes within this on a loaded machine.
c.Execute.timeout = 120

# After a cell's reply, nbclient waits this long for the rest of its output (the traceback of an
# interrupted cell, say) and fails the whole notebook if it does not come. Its 4 s default was too
# short on a loaded machine: a hang interrupted at the cell timeout then lost every later cell too.
# Only a kernel that ignores the interrupt waits it out, once per notebook.
c.Execute.iopub_timeout = 30

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Never copy editor or build leftovers into the release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Feedback shows each part's score and the hidden checks' diagnosis, but neither the
# hidden tests nor tracebacks through them (nbgrader issues #917, #1363): nbgrader's
# default feedback preprocessors, with autograder.feedback.SafeFeedback (nbgrader's
# ClearHiddenTests plus one-line error outputs) after GetGrades.
# Then SanitizeFeedback: no script, no raw HTML from a student's outputs or Markdown cells.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from autograder.feedback import SafeFeedback, SanitizeFeedback  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, SafeFeedback, SanitizeFeedback, CSSHTMLHeaderPreprocessor]

# The feedback page loads nothing (nbconvert's loads MathJax from a CDN: offline, every formula showed as
# LaTeX source): formulas are MathML, made with the page; each part is named by its title and grade_id
# (nbgrader's page said "Test cell" ten times). autograder/offline_math.py, autograder/templates/sae_feedback.
# (Formgrader's pages get the same MathML: autograder.formgrader.install, below.)
from autograder.offline_math import TEMPLATES, FeedbackExporter  # noqa: E402

c.GenerateFeedback.exporter_class = FeedbackExporter
c.FeedbackExporter.template_name = "sae_feedback"
c.FeedbackExporter.extra_template_basedirs = [str(TEMPLATES)]

# nbgrader collect: a hand-in in the exchange counts only for the student who made it (its owner), not
# for whoever its folder's name says (nbgrader alone warns and collects it); it is copied following no
# link, and timed by the machine's clock, not by its own timestamp.txt: autograder/exchange.py.
c.ExchangeFactory.collect = "autograder.exchange.OwnerCheckedCollect"

# A student's latest hand-in is always the one collected (nbgrader's --update, on by default here): without
# it, collect after a resubmission kept the first copy, said so at INFO only, and grade graded the stale one.
c.ExchangeCollect.update = True

# nbgrader release_feedback: each student's feedback on its own, so that one whose submission_secret.txt
# is missing (a student may delete it) stops nobody else's: autograder/exchange.py.
c.ExchangeFactory.release_feedback = "autograder.exchange.SafeReleaseFeedback"

# nbgrader release_assignment (and formgrader's Release button): an assignment whose release gives students the
# solutions of earlier ones (04 holds 03's backprop: EARLIER_SOLUTIONS in autograder/course.py) is released only
# once those are past their due date in the gradebook; otherwise it says which and what to do, and releases
# nothing. Set --OrderedReleaseAssignment.allow_early=True (or this line) to release early anyway.
c.ExchangeFactory.release_assignment = "autograder.exchange.OrderedReleaseAssignment"
# c.OrderedReleaseAssignment.allow_early = True

# Formgrader's Autograde button grades as `python -m autograder grade` does (sandboxed, the isolated pass),
# not with plain nbgrader autograde, which runs the hidden tests in the student's kernel: formgrader loads
# this file again before each request, and install() swaps the API it uses (autograder/formgrader.py).
import autograder.formgrader  # noqa: E402

autograder.formgrader.install()
