"""The shared check core and assignment 01's checks: right code passes quietly, bugs are named."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import reference as R
from autograder.checks import CheckFailure, activations, as_floats, call, compare


def naive_sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def stable_tanh(z):
    """As the notebook asks: from eq. (1), without overflow, without np.tanh."""
    z = np.asarray(z, dtype=float)
    t = np.exp(-2 * np.abs(z))
    return np.sign(z) * (1 - t) / (1 + t)


def naive_tanh(z):
    z = np.asarray(z, dtype=float)
    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (activations.check_sigmoid_values, R.sigmoid),
        (activations.check_sigmoid_extremes, R.sigmoid),
        (activations.check_sigmoid_prime, R.sigmoid_prime),
        (activations.check_tanh_values, stable_tanh),
        (activations.check_tanh_extremes, stable_tanh),
        (activations.check_tanh_prime, R.tanh_prime),
        (activations.check_sigmoid_values, naive_sigmoid),
        (activations.check_sigmoid_extremes, naive_sigmoid),  # warns, but is exact
        (activations.check_tanh_values, naive_tanh),
        (activations.check_sigmoid_values, lambda z: (1 / (1 + np.exp(-np.asarray(z)))).tolist()),  # a list
    ],
)
def test_correct_code_passes_and_writes_nothing_to_stderr(check, fn, capfd):
    check(fn)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("check", "fn", "message"),
    [
        (activations.check_sigmoid_values, lambda z: R.sigmoid(-np.asarray(z)), "sign in exp is flipped"),
        (activations.check_tanh_extremes, naive_tanh, "contains nan"),
        (activations.check_sigmoid_prime, lambda z: np.asarray(z) * (1 - np.asarray(z)), "z (1 - z)"),
        (activations.check_tanh_prime, lambda z: 1 - R.tanh(z), "1 - f(z) instead of 1 - f(z)^2"),
        (activations.check_tanh_values, R.sigmoid, "sigmoid was used instead of tanh"),
        (activations.check_sigmoid_values, None, "is not a function"),
    ],
)
def test_known_bugs_are_named(check, fn, message, capfd):
    with pytest.raises(CheckFailure, match=message.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        check(fn)
    assert capfd.readouterr().err == ""


def test_not_implemented_and_crashes_are_reported_in_one_line():
    def stub(z):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        activations.check_sigmoid_values(stub)
    with pytest.raises(CheckFailure, match="raised ZeroDivisionError"):
        activations.check_sigmoid_values(lambda z: 1 / 0)


def test_mutating_an_argument_fails():
    def in_place(z):
        z = np.asarray(z)
        z *= 0
        return z

    with pytest.raises(CheckFailure, match="modified one of its arguments"):
        call(in_place, "sigmoid", np.ones(3))


def test_a_generator_argument_may_advance():
    rng = np.random.default_rng(0)
    out = call(lambda g, n: g.normal(size=n), "draw", rng, 3)
    assert out.shape == (3,)


def test_compare_reports_location_ratio_and_constant_factor():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(CheckFailure) as info:
        compare("dJ/dW1", 2 * expected, expected, bugs={"the 1/2 of eq. (8) is missing": 2 * expected})
    text = str(info.value)
    assert "dJ/dW1[1, 1]: got 8, expected 4 (ratio 2)" in text
    assert "every entry is 2 times" in text and "the 1/2 of eq. (8) is missing" in text
    with pytest.raises(CheckFailure, match="transposed"):
        compare("dJ/dW1", np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(CheckFailure, match="contains nan"):
        compare("J", np.nan, 1.0)  # NaN never passes


def test_objects_that_fake_equality_are_judged_by_their_numbers():
    class AlwaysEqual(np.ndarray):
        def __eq__(self, other):
            return True

    liar = np.zeros(3).view(AlwaysEqual)
    with pytest.raises(CheckFailure):
        compare("sigmoid(z)", liar, np.ones(3))
    assert type(as_floats(liar, "x")) is np.ndarray


def wrapped_tanh(z):
    return np.tanh(z)


@pytest.mark.parametrize("check", [activations.check_tanh_values, activations.check_tanh_extremes])
@pytest.mark.parametrize(
    ("fn", "said"),
    [(np.tanh, "tanh is np.tanh itself"), (wrapped_tanh, "tanh calls np.tanh"), (R.tanh, "tanh calls np.tanh")],
)
def test_tanh_from_numpy_is_refused_with_the_reason(check, fn, said):
    """The notebook asks for tanh from its definition: np.tanh itself, or wrapped, is named (in the kernel)."""
    with pytest.raises(CheckFailure, match=said):
        check(fn)


@pytest.mark.slow  # a sandbox
def test_tanh_from_numpy_is_refused_in_the_sandbox_too():
    """The isolated pass sees the same: the child names what the student's tanh calls."""
    from autograder.sandbox import Sandbox

    source = "import numpy as np\ndef tanh(z):\n    return np.tanh(z)\n"
    source += "def own(z):\n    return 2 / (1 + np.exp(-2 * z)) - 1\n"
    with Sandbox() as box:
        box.run_cells([{"id": "a", "source": source, "student": True}])
        with pytest.raises(CheckFailure, match="tanh calls np.tanh"):
            activations.check_tanh_values(box.function("tanh"))
        assert "tanh" not in box.function("own").code_names()


def test_a_right_derivative_on_a_wrong_function_costs_the_function_only():
    """sigmoid_prime = s (1 - s) with the student's own (wrong) sigmoid: only sigmoid loses points (issue 13)."""

    def halved(z):
        return 0.5 / (1 + np.exp(-np.asarray(z, dtype=float)))

    def prime(z):
        return halved(z) * (1 - halved(z))

    with pytest.raises(CheckFailure, match="sigmoid"):
        activations.check_sigmoid_values(halved)
    activations.check_sigmoid_prime(prime, halved)
    with pytest.raises(CheckFailure, match="sigmoid_prime"):  # without the student's sigmoid: held to the notes
        activations.check_sigmoid_prime(prime)

    def half_tanh(z):
        return 0.5 * np.tanh(z)

    activations.check_tanh_prime(lambda z: 1 - half_tanh(z) ** 2, half_tanh)
    with pytest.raises(CheckFailure, match="1 - z"):  # a wrong derivative stays wrong
        activations.check_tanh_prime(lambda z: 1 - np.asarray(z) ** 2, half_tanh)


def test_a_failing_function_another_part_is_built_on_is_called_once():
    """A broken (or hanging: each call costs a time budget) sigmoid is not called again for every instance."""
    calls = []

    def broken(z):
        calls.append(z)
        raise NotImplementedError

    activations.check_sigmoid_prime(R.sigmoid_prime, broken)
    assert len(calls) == 1


def test_a_constant_function_is_no_base_for_the_part_built_on_it():
    """A sigmoid of zeros would make a derivative of zeros "right on top of it": not accepted."""

    def zeros(z):
        return np.zeros_like(np.asarray(z, dtype=float))

    with pytest.raises(CheckFailure, match="sigmoid_prime"):
        activations.check_sigmoid_prime(zeros, zeros)
