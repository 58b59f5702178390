"""The Runs view lists runs of a runs folder and overlays the selected ones (curves, per-class IoU, settings)."""

from __future__ import annotations

from tests.helpers import fake_run


def test_runs_view_shows_and_compares_two_runs(qtbot, tmp_path):
    from segtool.gui.runs_view import RunsView

    fake_run(tmp_path, "lr_high", lr=0.01, crop=256, mious=[0.2, 0.4], mtime=1_000_000)
    fake_run(tmp_path, "lr_low", lr=0.001, crop=384, mious=[0.1, 0.3, 0.5], mtime=2_000_000)
    view = RunsView([tmp_path])
    qtbot.addWidget(view)
    view.show()
    assert view.table.rowCount() == 2
    names = {view.table.item(r, 1).text() for r in range(2)}
    assert names == {"lr_high", "lr_low"}
    assert {view.table.item(r, 5).text() for r in range(2)} == {"0.400", "0.500"}
    view.select_all()
    assert len(view.selected_runs()) == 2
    curves = view.miou_plot.listDataItems()
    assert len(curves) == 2
    assert sorted(len(c.getData()[0]) for c in curves) == [2, 3]
    assert len(view.class_plot.getPlotItem().items) == 2  # one bar group per run
    rows = [view.diff.verticalHeaderItem(r).text() for r in range(view.diff.rowCount())]
    assert rows == ["crop_size", "epochs", "lr", "best mIoU"]
    # a run added later appears on refresh; another folder via add_root
    fake_run(tmp_path / "more", "adamw", lr=1e-4, crop=256, mious=[0.6])
    view.add_root(tmp_path / "more")
    assert view.table.rowCount() == 3
    assert len(view.selected_runs()) == 2  # the selection is kept


def test_open_model_from_runs_view(qtbot, tmp_path):
    from segtool.gui.runs_view import RunsView

    run = fake_run(tmp_path, "one", lr=0.01, crop=256, mious=[0.4])
    view = RunsView([tmp_path])
    qtbot.addWidget(view)
    view.table.selectRow(0)
    got = []
    view.openModel.connect(got.append)
    view.open_btn.click()
    assert got == [str(run / "best.pt")]
