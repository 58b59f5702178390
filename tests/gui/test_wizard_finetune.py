"""Issue 19: a start from a trained model proposes the measured fine-tuning defaults (frozen backbone,
AdamW 1e-4, 10 epochs, batch 4, 8 crops an epoch) and hands what the user leaves untouched to the run as
`auto`; a from-scratch start keeps the old defaults. Driven through label mode's "Train on my labels"
with real clicks, checked on the run's own config.json."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.gui.helpers import load
from tests.gui.wizard_support import check_data, training_children, wait_until

CONFIG_TIMEOUT_MS = 120_000  # the child imports torch, reads the label set and scores the start first


def start_and_read_config(wiz) -> dict:
    """Press Start training, wait for the run's config.json, stop the run (only the settings are tested)."""
    sp = wiz.schedule_page
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    QTest.mouseClick(wiz.button(wiz.WizardButton.CommitButton), Qt.MouseButton.LeftButton)
    assert wiz.run is not None, "Start training did not start a run"
    path = Path(wiz.config["output"]) / "config.json"
    wait_until(lambda: path.exists() or wiz.run.outcome is not None, CONFIG_TIMEOUT_MS)
    assert path.exists(), f"the run ended before writing config.json: {wiz.run.outcome}"
    cfg = json.loads(path.read_text())
    wiz.shutdown()
    wait_until(lambda: not training_children(), 30_000)
    return cfg


def test_train_on_my_labels_proposes_and_passes_the_fine_tuning_defaults(
    qtbot, window, gui_checkpoint, clip, tmp_path, monkeypatch
):
    from segtool.gui.wizard.model_page import cached_weights
    from segtool.models.pretrained import weights_entry

    # ImageNet weights in the cache (an empty file of the right name is what the page looks for): the
    # wizard alone would start from them; label mode corrects the viewer's model.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(weights_entry("resnet50", "imagenet").url).name
    cached.parent.mkdir(parents=True)
    cached.touch()
    assert cached_weights("resnet50", "imagenet") == cached
    load(qtbot, window, gui_checkpoint, clip)
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    for i in range(3):  # three frames: the model's own mask corrected by a rock stroke
        if i:
            window.seek(i * 10)
            qtbot.waitUntil(
                lambda i=i: hub.key is not None and hub.key[1].endswith(f"{i * 10:06d}"), timeout=10000
            )
        hub.start_from_prediction()
        hub.editor.begin_stroke(60, 60, 20, 1)
        hub.editor.end_stroke()
        assert hub.save()
    QTest.mouseClick(hub.panel.train_btn, Qt.MouseButton.LeftButton)
    wiz = window.training.wizard
    assert wiz is not None
    assert wiz.isVisible()
    try:
        wait_until(lambda: wiz.data_page.check is not None, 60_000)
        assert wiz.data_page.isComplete(), wiz.data_page.problems.text()
        n_train = wiz.check.train
        wiz.next()
        mp = wiz.model_page
        assert mp.from_viewer.isChecked()  # the checkpoint's own size
        assert mp.eval_size.value() == 64
        wiz.next()
        sp = wiz.schedule_page
        assert not sp.finetune.isHidden()
        assert sp.finetune.isChecked()
        assert "measured" in sp.finetune_note.text()
        assert "--" not in sp.finetune_note.text()
        assert (sp.epochs.value(), sp.batch.value(), sp.optimizer.currentData()) == (10, 4, "adamw")
        assert sp.freeze.isChecked()
        assert abs(sp.lr.value() - 1e-4) < 1e-9
        assert sp.repeat.value() == -(-8 // n_train)  # as the run chooses: 8 crops an epoch
        assert sp.crop.value() == 64  # never above the input size
        assert sp.finetune.text().startswith("Fine-tune (measured defaults) — 10 epochs")
        sp.epochs.setValue(1)  # the user's own number of epochs: theirs, not the run's choice
        assert sp.custom.isChecked()
        cfg = start_and_read_config(wiz)
    finally:
        wiz.shutdown()
    assert cfg["init"] == str(gui_checkpoint)
    assert cfg["optimizer"] == "adamw"
    assert cfg["freeze_backbone"] is True
    assert cfg["lr"] == 1e-4
    assert cfg["head_lr_mult"] == 1.0  # as measured: the heads learn at the same rate, not 10×
    assert (cfg["epochs"], cfg["batch_size"], cfg["repeat"], cfg["eval_size"]) == (1, 4, -(-8 // n_train), 64)
    assert set(cfg["auto"]) == {"eval_size", "repeat", "batch_size", "optimizer", "lr", "freeze_backbone"}


def test_from_scratch_keeps_the_old_defaults_and_a_changed_setting_is_the_users(
    qtbot, runs_env, tiny, tmp_path
):  # noqa: F811
    from segtool.gui.wizard import TrainingWizard
    from tests.helpers import make_small_checkpoint

    ck, _ = make_small_checkpoint(tmp_path / "viewer.pt", resize_short=64)
    wiz = TrainingWizard(str(ck), runs_env)
    qtbot.addWidget(wiz)
    wiz.show()
    try:
        check_data(qtbot, wiz, tiny)
        wiz.next()
        mp = wiz.model_page
        assert mp.from_viewer.isChecked()  # its own 64 px
        assert mp.model_config()["auto"] == ["eval_size"]
        mp.eval_size.setValue(96)
        assert mp.model_config()["auto"] == []  # a size the user typed is theirs
        mp.eval_size.setValue(64)
        wiz.next()
        sp = wiz.schedule_page
        assert sp.finetune.isChecked()
        assert sp.job.network["width_mult"] == 0.25  # the estimates time the checkpoint's own (slim) network
        wait_until(
            lambda: sp.speed is not None, 180_000
        )  # 2 timed training steps; minutes on a loaded 2-core CI
        assert "≈" in sp.finetune.text()  # the fine-tuning preset has its own time estimate
        sp.toggle.setChecked(True)
        sp.optimizer.setCurrentIndex(sp.optimizer.findData("sgd"))  # SGD: 0.001 frozen, 1e-4 learning
        assert abs(sp.lr.value() - 1e-3) < 1e-12  # the rate measured for the optimiser follows
        QTest.mouseClick(
            sp.freeze, Qt.MouseButton.LeftButton, pos=QPoint(8, sp.freeze.height() // 2)
        )  # on the box: the backbone learns
        assert not sp.freeze.isChecked()
        assert abs(sp.lr.value() - 1e-4) < 1e-12  # the rate measured for a learning backbone follows
        assert "freeze_backbone" not in sp.schedule_config()["auto"]
        assert "lr" in sp.schedule_config()["auto"]
        wiz.back()  # the Model page: from scratch this time
        mp.from_scratch.setChecked(True)
        mp.backbone.setCurrentIndex(mp.backbone.findData("mobilenet_v3_large"))
        mp.eval_size.setValue(64)
        wiz.next()
        assert sp.finetune.isHidden()
        assert sp.preset_buttons["quick"].isChecked()
        assert (sp.epochs.value(), sp.batch.value(), sp.optimizer.currentData(), sp.lr.value()) == (
            5,
            4,
            "sgd",
            0.0,
        )
        assert not sp.freeze.isChecked()
        assert not sp.freeze.isEnabled()
        sp.epochs.setValue(1)
        sp.crop.setValue(64)
        sp.batch.setValue(2)
        cfg = start_and_read_config(wiz)
    finally:
        wiz.shutdown()
        wiz.close()
    assert cfg["init"] == "scratch"
    assert cfg["auto"] == []
    assert (cfg["width_mult"], cfg["aspp_channels"], cfg["head_lr_mult"]) == (
        1.0,
        256,
        1.0,
    )  # nothing of the checkpoint left
    assert (cfg["optimizer"], cfg["lr"], cfg["freeze_backbone"], cfg["epochs"]) == ("sgd", 0.0, False, 1)


def test_wording_names_the_schedule_fields_for_the_fine_tuning_options():
    from segtool.gui.wizard.wording import in_app_words

    text = in_app_words(
        "only 2 training image(s) × --repeat 1 but one step needs 4: use --batch-size 2 or --repeat 2; "
        "Lower --lr (e.g. by 10x), --optimizer sgd, --no-freeze-backbone, --freeze-backbone, --eval-size 512"
    )
    assert "--" not in text, text
    assert "Repeat photos per epoch 2 (Schedule ▸ Advanced)" in text
    assert "Lower the Learning rate" in text
    assert "untick 'keep the backbone as it is'" in text
    assert "Input size (Model page) 512" in text
