"""Text and layout a first-time user tripped over: run legends that all read the same, the Runs view
without a close button, a developer's path in the model info, "1 threads", the demo banner pointing to
the CLI, "Epoch 0 of 0", a cut table header."""

from __future__ import annotations

from tests.helpers import fake_run


def test_run_legends_differ_for_runs_of_the_same_data(qtbot, tmp_path):
    from segtool.gui.runs_view import RunsView, legend_name

    for stamp in ("2026-11-29_1410", "2026-11-29_1532"):
        fake_run(tmp_path, f"{stamp}_cvat_annotations_seg_resnet50", lr=0.01, crop=256, mious=[0.3])
    view = RunsView([tmp_path])
    qtbot.addWidget(view)
    view.show()
    names = [legend_name(i, r) for i, r in enumerate(view.runs)]
    assert len(set(n.split(": ", 1)[1] for n in names)) == 2, names  # not both "…nnotations_seg_resnet50"
    assert all(len(n) <= 32 for n in names)
    assert view.close_btn.text() == "Close"
    view.close_btn.click()
    assert not view.isVisible()


def test_model_info_names_the_dataset_not_a_path():
    from segtool.gui.side_panel import describe_html

    d = {
        "path": "/x/demo_rocks.pt",
        "size_mb": 3.7,
        "parameters": 1.7e6,
        "preprocess": {"resize_short": 270},
        "model": {"backbone": "mobilenet_v3_large", "output_stride": 16},
        "train": {"dataset": "/tmp/demo_train/rocks_synth", "metrics": {"miou": 0.81}},
    }
    text = describe_html(d)
    assert "trained on rocks_synth" in text
    assert "/tmp/" not in text
    d["train"]["dataset"] = "/home/u/cvat_annotations.zip"
    assert "trained on cvat_annotations<" in describe_html(d) + "<"


def test_one_thread_is_singular():
    import torch

    from segtool.models.device import describe_device

    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "cpu (1 thread)"
    finally:
        torch.set_num_threads(n)


def test_demo_banner_points_to_the_train_button_and_wraps(qtbot, settings):
    from segtool.gui.demo_banner import DemoBanner
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    banner = DemoBanner(win)
    qtbot.addWidget(banner)
    assert "Train…" in banner.text.text()
    assert "segtool train" not in banner.text.text()
    assert banner.text.wordWrap()


def test_training_page_never_says_epoch_0_of_0(qtbot, tmp_path):
    from segtool.core.train_progress import TrainProgress
    from segtool.gui.wizard import TrainingWizard

    wiz = TrainingWizard(None, tmp_path)
    qtbot.addWidget(wiz)

    class FakeRun:  # a run that has started but not yet reported its first epoch
        progress = TrainProgress()
        running, can_resume, proc = True, False, None
        run_dir = tmp_path

    wiz.run = FakeRun()
    wiz.run.progress.phase = "training"
    wiz.training_page.refresh()
    assert "Epoch 0 of 0" not in wiz.training_page.headline.text()
    wiz.run = None
    wiz.shutdown()


def test_data_page_class_table_header_fits(qtbot, tmp_path):
    from segtool.gui.wizard import TrainingWizard

    wiz = TrainingWizard(None, tmp_path)
    qtbot.addWidget(wiz)
    wiz.show()
    table = wiz.data_page.classes
    header = table.horizontalHeader()
    for col in range(table.columnCount()):
        text = table.horizontalHeaderItem(col).text()
        assert header.sectionSize(col) >= header.fontMetrics().horizontalAdvance(text), text
    wiz.shutdown()
