"""The live plots' frame: round ends, room to grow, and it moves only when it must."""

from __future__ import annotations

import itertools

import pytest

from gpu_assistant.ui.plot_frame import axis_frame, round_above


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.7, 0.8), (1.0, 1.0), (1.01, 1.2), (2.2, 2.5), (7.0, 8.0), (8.5, 10.0), (0.031, 0.04)],
)
def test_round_above(value: float, expected: float) -> None:
    assert round_above(value) == pytest.approx(expected)


def test_a_growing_curve_moves_the_frame_only_when_it_leaves_it() -> None:
    frame = None
    frames = []
    for step in range(1, 231):  # 10 epochs of 23 steps, x in epochs
        frame = axis_frame((0.0, step / 23), frame)
        frames.append(frame)
        assert frame[0] <= 0.0 and step / 23 <= frame[1]
    changes = sum(1 for a, b in itertools.pairwise(frames) if a != b)
    assert changes <= 25  # a changing frame redraws the axes; 229 moves became at most 25
    assert frames[-1] == (0.0, 10.0)  # round ends


def test_the_frame_tightens_when_the_data_fills_less_than_half_of_it() -> None:
    wide = axis_frame((0.0, 10.0), None)
    assert axis_frame((0.0, 9.0), wide) == wide
    tight = axis_frame((4.0, 5.0), wide)
    assert tight[0] <= 4.0 and tight[1] >= 5.0 and tight[1] - tight[0] < 2.0


def test_quantities_that_cannot_be_negative_keep_the_frame_at_or_above_zero() -> None:
    assert axis_frame((0.05, 2.3), None)[0] == 0.0
    assert axis_frame((-1.0, 1.0), None)[0] < -1.0  # data that can be negative gets room


def test_limits_bound_the_frame_and_a_single_point_gets_one() -> None:
    low, high = axis_frame((0.9, 1.0), None, limits=(0.0, 1.0))
    assert high == 1.0 and low < 0.9
    low, high = axis_frame((3.0, 3.0), None)
    assert low < 3.0 < high
    low, high = axis_frame((5.0, 5.0), None, limits=(0.0, 1.0))  # data beyond the limits
    assert low < 5.0 < high  # is shown, not an empty or reversed frame
