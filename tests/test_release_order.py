"""Which earlier solutions each release gives students, as ``EARLIER_SOLUTIONS`` (autograder/course.py) declares.

The release guard (autograder/exchange.py, ``OrderedReleaseAssignment``; its tests are in tests/test_exchange.py)
holds an assignment back until each earlier assignment named there is past its due date. The declaration is
checked here against release/ itself, so that it cannot go stale: every graded function of an earlier assignment
(one its answer cells define) that a later release's notebook binds outside its answer cells is declared, and
nothing else is. A given cell that starts to define 03's ``backprop_single_example`` in 05 fails here until it is
declared (and so guarded).
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import autograder.reference
from autograder.course import EARLIER_SOLUTIONS, Course, bound_functions


def test_earlier_solutions_is_what_release_gives():
    course = Course()
    found = course.earlier_solutions()
    assert found == EARLIER_SOLUTIONS, (
        "release/ gives students these earlier solutions; EARLIER_SOLUTIONS in autograder/course.py must say the "
        f"same (after `python -m autograder release`):\n  found:    {found}\n  declared: {EARLIER_SOLUTIONS}"
    )


def test_the_declaration_names_real_assignments_in_their_order():
    assignments = Course().assignments()
    for assignment, earlier in EARLIER_SOLUTIONS.items():
        assert assignment in assignments, assignment
        for name, functions in earlier.items():
            assert name in assignments and name < assignment, (assignment, name)
            assert set(functions) <= Course().graded_functions(name), (name, functions)


#: The graded functions of each assignment, as the course specification lists them.
SPECIFIED = {
    "01_activations": {"sigmoid", "sigmoid_prime", "tanh", "tanh_prime"},
    "02_forward_pass": {"initialize_parameters", "forward_pass"},
    "03_backprop": {"cost", "backprop_single_example", "backprop", "gradient_descent_step"},
    "04_gradient_checking": {"numerical_gradient", "relative_difference", "flatten_parameters", "unflatten_parameters"},
    "05_sparse_autoencoder": {
        "normalize_patches",
        "sample_patches",
        "initialize_sparse_autoencoder",
        "kl_divergence",
        "sparse_autoencoder_cost",
        "train_sparse_autoencoder",
    },
    "06_visualization": {"max_activation_inputs", "display_network"},
}


def test_the_answer_cells_define_the_specified_graded_functions():
    """The functions the declaration is checked against are the right ones: each assignment's answer cells define
    its graded functions of the specification (which the reference implements), and nothing else."""
    course = Course()
    assert {a: course.graded_functions(a) for a in course.assignments()} == SPECIFIED
    missing = sorted(f for fs in SPECIFIED.values() for f in fs if not hasattr(autograder.reference, f))
    assert not missing, f"graded functions the reference lacks: {missing}"


def notebook(tmp_path, given: str, answer: str = "def mine():\n    raise NotImplementedError()"):
    """A notebook of one given (locked) cell and one answer cell."""
    locked = {"grade": False, "grade_id": "given", "locked": True, "schema_version": 3, "solution": False}
    solution = {"grade": False, "grade_id": "mine", "locked": False, "schema_version": 3, "solution": True}
    nb = new_notebook(
        cells=[
            new_code_cell(given, metadata={"nbgrader": locked}),
            new_code_cell(answer, metadata={"nbgrader": solution}),
        ]
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_module_binds_its_own_functions(tmp_path):
    path = tmp_path / "figures.py"
    path.write_text("import numpy as np\n\ndef forward_pass(W, b, X):\n    def inner():\n        pass\n")
    assert bound_functions(path, answers=False) == ["np", "forward_pass"]
    assert bound_functions(path, answers=True) == []


@pytest.mark.parametrize(
    "given, bound",
    [
        ("def sigmoid(z):\n    return 1 / (1 + np.exp(-z))", ["sigmoid"]),
        ("sigmoid = lambda z: 1 / (1 + np.exp(-z))", ["sigmoid"]),
        ("from scipy.special import expit as sigmoid", ["sigmoid"]),
        ("import scipy.special\nsigmoid = scipy.special.expit", ["scipy", "sigmoid"]),
        ("try:\n    from scipy.special import expit as sigmoid\nexcept ImportError:\n    pass", ["sigmoid"]),
        ("%matplotlib inline\nclass Net:\n    def backprop(self):\n        pass", ["Net"]),
        ("cost, grad = f(theta)\ncost = J(theta)", []),  # values, not functions
    ],
)
def test_what_counts_as_giving_a_function(tmp_path, given, bound):
    path = notebook(tmp_path, given)
    assert bound_functions(path, answers=False) == bound
    assert bound_functions(path, answers=True) == ["mine"]


def test_a_new_giveaway_anywhere_in_a_release_is_found(tmp_path):
    """In a course of three assignments: the second's lecture module defines the first's graded function (and its
    own), the third's notebook imports it under its name; both are found, the second's own function is not."""
    course = Course(tmp_path)
    for name in ("01_a", "02_b", "03_c"):
        (tmp_path / "source" / name).mkdir(parents=True)
        (tmp_path / "release" / name / "lectures").mkdir(parents=True)
    notebook(tmp_path / "release" / "01_a", "import numpy as np", "def sigmoid(z):\n    raise NotImplementedError()")
    notebook(tmp_path / "release" / "02_b", "x = 1")
    (tmp_path / "release" / "02_b" / "lectures" / "figures.py").write_text(
        "def sigmoid(z):\n    return z\n\n\ndef mine():\n    pass\n"
    )
    notebook(tmp_path / "release" / "03_c", "from somewhere import sigmoid\nfrom elsewhere import helper")
    for name in ("01_a", "02_b", "03_c"):
        (tmp_path / "source" / name / "nb.ipynb").write_bytes((tmp_path / "release" / name / "nb.ipynb").read_bytes())
    assert course.earlier_solutions() == {"02_b": {"01_a": ("sigmoid",)}, "03_c": {"01_a": ("sigmoid",)}}
