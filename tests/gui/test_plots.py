"""The live plots follow the data in steps, and give the view to a user who zooms or pans."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from gpu_assistant.ui.plots import LivePlot


def _plot(qtbot) -> LivePlot:
    plot = LivePlot("lossPlot", "Loss", "loss")
    qtbot.addWidget(plot)
    plot.resize(500, 300)
    plot.show()
    plot.add_series("train loss")
    return plot


def _visible(plot: LivePlot) -> list[list[float]]:
    return plot.getPlotItem().getViewBox().viewRange()


def test_new_points_inside_the_frame_do_not_move_the_view(qtbot) -> None:
    plot = _plot(qtbot)
    for step in range(1, 24):  # one epoch of 23 steps
        plot.append("train loss", step / 23, 2.0 - step * 0.02)
    plot.refresh()
    (x0, x1), (y0, y1) = _visible(plot)
    assert x0 <= 1 / 23 and x1 >= 1.0 and y0 <= 1.54 and y1 >= 1.98  # all of it is shown
    before = _visible(plot)
    plot.append("train loss", 1.02, 1.6)  # inside the frame
    plot.refresh()
    assert _visible(plot) == before
    plot.append("train loss", 3.0, 1.5)  # outside: the frame grows to show it
    plot.refresh()
    assert _visible(plot)[0][1] >= 3.0


def test_a_user_who_zooms_keeps_the_view_until_auto_range(qtbot) -> None:
    plot = _plot(qtbot)
    for step in range(1, 24):
        plot.append("train loss", step / 23, 2.0 - step * 0.02)
    plot.refresh()
    centre = plot.viewport().rect().center()
    wheel = QWheelEvent(
        QPointF(centre),
        QPointF(plot.viewport().mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(plot.viewport(), wheel)  # the mouse wheel zooms in
    zoomed = _visible(plot)
    assert plot.frame() is None
    plot.append("train loss", 5.0, 1.0)
    plot.refresh()
    assert _visible(plot) == zoomed  # the user's view is left alone
    plot.getPlotItem().autoBtnClicked()  # pyqtgraph's "A" button: follow the data again
    plot.refresh()
    assert plot.frame() is not None and _visible(plot)[0][1] >= 5.0


def test_clearing_a_plot_shows_an_empty_unit_frame_for_its_note(qtbot) -> None:
    plot = _plot(qtbot)
    plot.append("train loss", 30.0, 5.0)
    plot.refresh()
    plot.clear_data()
    assert _visible(plot) == [[0.0, 1.0], [0.0, 1.0]] and plot.frame() is None


def test_a_range_typed_in_the_menu_is_kept_too(qtbot) -> None:
    plot = _plot(qtbot)
    for step in range(1, 24):
        plot.append("train loss", step / 23, 2.0 - step * 0.02)
    plot.refresh()
    plot.getPlotItem().getViewBox().setXRange(0.2, 0.4, padding=0)  # what the menu's fields do
    plot.append("train loss", 5.0, 1.0)
    plot.refresh()
    assert plot.frame() is None and _visible(plot)[0] == [0.2, 0.4]
