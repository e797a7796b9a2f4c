"""The visible range of a live plot, chosen so that it rarely changes.

Why: pyqtgraph's auto-range moves the view with every new point, and each move makes the axes
recompute and redraw their ticks. On the Train page that was most of the window's CPU while
training (14 % of a core on 2 cores, which the training child lost: bench_responsiveness). A
frame with round ends and some room to grow changes only when the data leaves it or fills less
than half of it, so between changes only the curves are redrawn (about 6 % of a core).
"""

from __future__ import annotations

import math

Span = tuple[float, float]

ROUND_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
HEADROOM = 0.1  # of the data's span, on each side, so a growing curve does not move it at once
MIN_FILL = 0.5  # a frame the data fills less than half of is redrawn tighter
GRID_CELLS = 5  # the frame's ends are multiples of about a fifth of the data's span


def round_above(value: float) -> float:
    """The smallest 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten that is >= value."""
    if value <= 0:
        return 0.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in ROUND_STEPS:
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10.0 * power


def axis_frame(data: Span, current: Span | None, limits: Span | None = None) -> Span:
    """The frame to show `data` (its min and max) in: `current` if it still fits, else a new
    one with round ends and headroom, kept inside `limits` (accuracy cannot exceed 1)."""
    low, high = data
    if current is not None:
        frame_low, frame_high = current
        fits = frame_low <= low and high <= frame_high
        if fits and (high - low) >= MIN_FILL * (frame_high - frame_low):
            return current
    span = high - low or abs(high) * 0.1 or 1.0
    step = round_above(span / GRID_CELLS)
    new_low = round(math.floor((low - HEADROOM * span) / step) * step, 12)  # 0.75, not ...01
    new_high = round(math.ceil((high + HEADROOM * span) / step) * step, 12)
    if low >= 0:
        new_low = max(new_low, 0.0)  # loss, accuracy, MiB and % are never negative
    if limits is not None and max(new_low, limits[0]) < min(new_high, limits[1]):
        new_low, new_high = max(new_low, limits[0]), min(new_high, limits[1])  # else: data
    return new_low, new_high  # outside the limits is shown, not an empty frame
