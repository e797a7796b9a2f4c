"""Live line plots that stay cheap however fast data arrives.

Each series is one `PlotDataItem`; new points go into Python lists and a timer pushes them with
`setData` 5 times a second (the design allows up to 10), with clip-to-view and automatic
downsampling, so a long run never slows the GUI thread. The view follows the data in steps
(`plot_frame`), not with every point, because moving it redraws the axes; a user who zooms,
pans or sets a range from the menu takes the view over until they click pyqtgraph's "A"
(auto-range) button.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from gpu_assistant.ui.plot_frame import Span, axis_frame

REFRESH_MS = 200  # 5 Hz: smooth to the eye, and half the repaint work of 10 Hz

# Distinguishable in light and dark themes (Okabe-Ito palette, colour-blind safe).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


class LivePlot(pg.PlotWidget):
    """A plot with named series fed by `append`; redrawn by a 5 Hz timer, only when changed."""

    def __init__(
        self,
        object_name: str,
        title: str,
        y_label: str,
        *,
        x_label: str = "epoch",
        rising: bool = False,
        y_limits: Span | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent, background=None)
        self.setObjectName(object_name)
        self.setAccessibleName(title)
        self.setMinimumHeight(160)
        item = self.getPlotItem()
        item.setTitle(title)
        item.setLabel("left", y_label)
        item.getAxis("left").enableAutoSIPrefix(False)  # accuracy stays 0-1, not "x0.001"
        item.setLabel("bottom", x_label)
        item.getAxis("bottom").enableAutoSIPrefix(False)  # epoch 0.5 is not "500 (x0.001)"
        item.showGrid(x=False, y=False)
        # The legend sits where the curves are not: low for rising series, high for falling.
        item.addLegend(offset=(-10, -10) if rising else (-10, 10))
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        self._items: dict[str, pg.PlotDataItem] = {}
        self._marker: pg.InfiniteLine | None = None
        self._marker_text = ""  # its legend entry
        self._dirty: set[str] = set()
        self._y_limits = y_limits
        self._bounds: list[float] | None = None  # min x, max x, min y, max y of finite points
        self._frame: tuple[Span, Span] | None = None
        self._following = True
        self._moving = False  # while the plot itself sets the range
        # Any other change is the user's: the mouse, the menu's View All or a typed range.
        item.getViewBox().sigRangeChanged.connect(self._range_changed)
        self._note = pg.TextItem("", anchor=(0.5, 0.5))
        self._note.setPos(0.5, 0.5)
        self._note.setVisible(False)
        item.addItem(self._note, ignoreBounds=True)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def show_note(self, text: str) -> None:
        """A line in the middle of the plot that says why it is empty ("" removes it)."""
        self._note.setText(text)
        self._note.setVisible(bool(text))

    def add_series(self, name: str, dashed: bool = False) -> None:
        colour = SERIES_COLOURS[len(self._items) % len(SERIES_COLOURS)]
        style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
        pen = pg.mkPen(colour, width=2, style=style)
        self._items[name] = self.getPlotItem().plot([], [], name=name, pen=pen)
        self._data[name] = ([], [])

    def append(self, name: str, x: float, y: float | None) -> None:
        if y is None:
            return
        xs, ys = self._data[name]
        x, y = float(x), float(y)
        xs.append(x)
        ys.append(y)
        self._dirty.add(name)
        if math.isfinite(x) and math.isfinite(y):  # a NaN loss must not stretch the frame
            b = self._bounds
            self._bounds = (
                [x, x, y, y]
                if b is None
                else [min(b[0], x), max(b[1], x), min(b[2], y), max(b[3], y)]
            )

    def series(self, name: str) -> tuple[list[float], list[float]]:
        return self._data[name]

    def remove_series(self) -> None:
        """Drop every series (the set of GPUs can change between runs)."""
        for item in self._items.values():
            self.getPlotItem().removeItem(item)
        self._items.clear()
        self._data.clear()
        self._dirty.clear()
        self._reset_frame()

    def mark(self, x: float | None, text: str = "") -> None:
        """A dotted vertical line at `x` (the epoch whose weights were kept), named `text` in
        the legend (a label on the line collided with the legend or the curves in small
        windows); None removes it."""
        item = self.getPlotItem()
        if self._marker is not None:
            item.removeItem(self._marker)
            item.legend.removeItem(self._marker_text)
            self._marker = None
        if x is None:
            return
        pen = pg.mkPen("#888888", width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
        self._marker = pg.InfiniteLine(pos=x, angle=90, pen=pen)
        item.addItem(self._marker, ignoreBounds=True)
        self._marker_text = text or f"epoch {x:g}"
        item.legend.addItem(pg.PlotDataItem(pen=pen), self._marker_text)

    def marked(self) -> float | None:
        return None if self._marker is None else float(self._marker.value())

    def clear_data(self) -> None:
        self.mark(None)
        for name in self._data:
            self._data[name] = ([], [])
            self._dirty.add(name)
        self._reset_frame()
        self.refresh()

    def refresh(self) -> None:
        """Push changed series to their items and move the frame if the data left it (called
        by the timer; tests may call it)."""
        for name in self._dirty:
            xs, ys = self._data[name]
            self._items[name].setData(xs, ys)
        self._dirty.clear()
        view = self.getPlotItem().getViewBox()
        if any(view.autoRangeEnabled()):  # the initial state, or the user clicked "A"
            view.disableAutoRange()
            self._following, self._frame = True, None
        if self._following and self._bounds is not None:
            x0, x1, y0, y1 = self._bounds
            current = self._frame or (None, None)
            frame = (
                axis_frame((x0, x1), current[0]),
                axis_frame((y0, y1), current[1], self._y_limits),
            )
            if frame != self._frame:
                self._frame = frame
                self._set_range(frame, padding=0.02)

    def frame(self) -> tuple[Span, Span] | None:
        """The x and y spans the plot follows the data with (None before data or once the user
        zoomed or panned)."""
        return self._frame if self._following else None

    def _reset_frame(self) -> None:
        """Empty plots show 0-1 (where their note is centred) and follow the next data."""
        self._bounds, self._frame, self._following = None, None, True
        self._set_range(((0.0, 1.0), (0.0, 1.0)), padding=0)

    def _set_range(self, frame: tuple[Span, Span], padding: float) -> None:
        self._moving = True
        try:
            self.getPlotItem().getViewBox().setRange(
                xRange=frame[0], yRange=frame[1], padding=padding
            )
        finally:
            self._moving = False

    def _range_changed(self, *_: object) -> None:
        view = self.getPlotItem().getViewBox()
        if not self._moving and not any(view.autoRangeEnabled()):
            self._following = False
