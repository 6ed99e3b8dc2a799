"""Sample submissions, one module per assignment: realistic work with real bugs and the scores it earns.

Each module ``aNN_name.py`` defines ``ASSIGNMENT`` (the folder name in source/),

* ``NOTEBOOK``: the notebook's file name in ``source/NN_name/``;
* ``SUBMISSIONS``: {student id: Submission}, realistic buggy (or oddly styled
  but correct) work. A submission starts from the *solution* answers and
  replaces the answer cells named in ``answers`` (grade_id -> new source);
  ``scores`` gives the expected score of every test cell that does not get
  full marks (cells not named must get full marks), and ``named`` the words
  the feedback of a failing cell must show (the bug, named); ``kernel`` the in-kernel scores
  that may differ from the recorded ones (a function defined in a later cell).

tests/test_assignments.py grades them all with nbgrader and asserts every score; ``bench``
times the correct loop-style ones. The tests add two submissions to every assignment: ``solution``
(all answers from source/, full marks everywhere) and ``untouched`` (the
release notebook as students receive it, 0 everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Submission:
    answers: dict[str, str]
    scores: dict[str, float] = field(default_factory=dict)
    #: {test cell grade_id: words its feedback must show}: the bug named where the student looks.
    named: dict[str, str] = field(default_factory=dict)
    #: {test cell grade_id: its in-kernel score}, where nbgrader's run from the top differs from the
    #: recorded one for a reason that is not this part's bug (a function defined in a later cell; a warning on
    #: stderr from another part's bug, which the isolated pass silences).
    kernel: dict[str, float] = field(default_factory=dict)
