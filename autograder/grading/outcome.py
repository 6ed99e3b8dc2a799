"""What grading one student's assignment ended as: a Status and an Outcome.

An Outcome travels from the worker process to the supervisor as a result file (JSON,
``to_json``/``from_json``); the supervisor makes the ones the worker could not write.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """How grading one (student, assignment) ended. The value is what the table says."""

    GRADED = "graded"
    TIMED_OUT = "timed out"  # a cell past nbgrader's timeout that ignored the interrupt, or the student's budget spent
    KERNEL_DIED = "kernel died"  # os._exit, a crash, out of memory: nbgrader's kernel is gone
    FAILED = "failed"  # nbgrader (or the worker) failed on this submission: the detail says how
    GRADING_ERROR = "grading error"  # the grader itself failed around this student's worker


#: {notebook (its name without .ipynb): {test cell grade_id: score}}
Scores = dict[str, dict[str, float]]


@dataclass
class Outcome:
    """How grading one student's assignment went."""

    student: str
    assignment: str
    status: Status
    seconds: float = 0.0
    detail: str = ""
    kernel: dict[str, dict[str, float | None]] = field(default_factory=dict)  # nbgrader's in-kernel scores
    isolated: Scores = field(default_factory=dict)  # the isolated pass's scores (the ones recorded)
    flags: list[str] = field(default_factory=list)  # disagreements worth an instructor's look
    timestamp: str | None = None  # when it was submitted (nbgrader's timestamp.txt), ISO 8601
    late_penalties: dict[str, float | None] = field(default_factory=dict)  # {notebook: nbgrader's late penalty}

    def __post_init__(self):
        self.status = Status(self.status)

    @property
    def recorded(self) -> dict:
        """The scores that go to the gradebook: the isolated pass's, else nbgrader's in-kernel ones."""
        return self.isolated or self.kernel

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        """The Outcome a worker wrote; ValueError (or TypeError) if the text is not one."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("an outcome is a JSON object")
        return cls(**data)
