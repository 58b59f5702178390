"""Issue 20: the training wizard offers the learned centre split for outlined fragments. The Data page's
"How touching rocks are split" choice (shown only for instance PNGs / COCO) reaches `fragment_classes` in the
run's config exactly as the CLI's --fragment-classes; a wizard run on tiny outlines writes a checkpoint
with 4 classes and `"split": "centre"`; a centre-split start keeps its centres, and choosing edges with one
says what is dropped, with a button that keeps them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.wizard_support import RUN_TIMEOUT_MS, check_data, wait_until
from tests.helpers import (
    make_centre_checkpoint,
    make_dataset,
    make_fragment_checkpoint,
    make_outlines,
)

CENTRE_ENTRY = {"interior": "rock", "edge": "rock_edge", "centre": "rock_centre", "split": "centre"}
NAMES3 = ["background", "rock", "rock_edge"]
NAMES4 = [*NAMES3, "rock_centre"]


@pytest.fixture(scope="module")
def outlines(tmp_path_factory) -> Path:
    return make_outlines(tmp_path_factory.mktemp("outlines"))


def click(button) -> None:
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def class_names(page) -> list[str]:
    return [page.classes.item(r, 0).text() for r in range(page.classes.rowCount())]


def shares(page) -> list[float]:
    """The class table's "Share of pixels" column, in %."""
    return [float(page.classes.item(r, 2).text().rstrip(" %")) for r in range(page.classes.rowCount())]


def rechecked(page, n_classes: int) -> None:
    wait_until(lambda: page.check is not None and page.classes.rowCount() == n_classes, 60_000)


def test_outlines_offer_the_centre_split_and_it_reaches_the_config(qtbot, wizard, outlines, tmp_path):
    page = wizard.data_page
    assert page.split.isHidden()  # nothing checked yet
    check_data(qtbot, wizard, outlines)
    assert page.check.form == "instances"
    assert page.split.isVisible()
    assert page.split.edges.isChecked()  # the CLI's default
    assert class_names(page) == NAMES3
    assert "slower split" in page.split.centres.toolTip()
    click(page.split.centres)
    rechecked(page, 4)  # the data are read again with the cores drawn from the outlines
    assert class_names(page) == NAMES4
    assert not page.classes.item(3, 2).text().startswith("none")  # rock_centre has pixels
    assert page.data_config()["fragment_classes"] == "edge+centre"
    assert page.isComplete()
    wizard.next()
    assert wizard.currentPage() is wizard.model_page
    assert wizard.config["fragment_classes"] == "edge+centre"
    assert wizard.model_page.split_note.isHidden()  # no checkpoint start: nothing to compare with
    wizard.back()
    click(page.split.edges)
    rechecked(page, 3)
    assert page.validatePage()
    assert wizard.config["fragment_classes"] == "edge"
    # A mask folder is not outlines: no choice shown, and the run's config records no centre split.
    click(page.split.centres)
    rechecked(page, 4)
    check_data(qtbot, wizard, make_dataset(tmp_path / "masks"))
    assert page.check.form == "folder"
    assert page.split.isHidden()
    assert page.validatePage()
    assert wizard.config["fragment_classes"] == "edge"


def test_wizard_trains_a_centre_split_model_from_outlines(qtbot, wizard, outlines):
    """Data → Model → Schedule → Training with "edges + centres", as a user clicks it: the checkpoint has
    the 4 classes and the centre split, and config.json records the choice."""
    from segtool.models import load_checkpoint

    page = wizard.data_page
    check_data(qtbot, wizard, outlines)
    click(page.split.centres)
    rechecked(page, 4)
    wizard.next()
    mp = wizard.model_page
    mp.from_scratch.setChecked(True)  # no internet in tests
    mp.backbone.setCurrentIndex(mp.backbone.findData("mobilenet_v3_large"))
    mp.eval_size.setValue(64)
    wizard.next()
    sp = wizard.schedule_page
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    sp.epochs.setValue(1)
    sp.crop.setValue(64)
    sp.batch.setValue(2)
    sp.repeat.setValue(1)
    click(wizard.button(wizard.WizardButton.CommitButton))
    assert wizard.currentPage() is wizard.training_page
    wait_until(lambda: wizard.run.outcome is not None, RUN_TIMEOUT_MS)
    assert wizard.run.outcome.kind == "finished", wizard.run.outcome
    run_dir = Path(wizard.config["output"])
    assert json.loads((run_dir / "config.json").read_text())["fragment_classes"] == "edge+centre"
    ck = load_checkpoint(run_dir / "best.pt")
    assert ck.class_names == NAMES4
    assert ck.fragments == CENTRE_ENTRY


def test_a_centre_split_start_keeps_its_centres_and_edges_say_what_is_dropped(
    qtbot, runs_env, outlines, tmp_path
):
    from segtool.gui.wizard import TrainingWizard

    start = make_centre_checkpoint(tmp_path / "centre.pt")
    wiz = TrainingWizard(str(start), runs_env)
    qtbot.addWidget(wiz)
    wiz.show()
    try:
        page, mp = wiz.data_page, wiz.model_page
        assert page.split.centres.isChecked()  # proposed as the viewer's model splits
        check_data(qtbot, wiz, outlines)
        assert class_names(page) == NAMES4
        wiz.next()
        assert mp.from_viewer.isChecked()
        assert mp.split_note.isVisible()
        assert "4 classes are kept" in mp.split_note.note.text()
        assert not mp.split_note.keep_btn.isVisible()
        assert mp.model_config()["init"] == str(start)
        # The user picks edges: the Model page says the start's rock_centre is dropped, and offers to keep it.
        wiz.back()
        click(page.split.edges)
        rechecked(page, 3)
        wiz.next()
        assert wiz.config["fragment_classes"] == "edge"
        text = mp.split_note.note.text()
        assert "drops rock_centre" in text and "splits by edges" in text
        assert mp.split_note.keep_btn.isVisible()
        assert "rename" not in mp.class_map_note.text()  # rock_centre is no renamed class
        click(mp.split_note.keep_btn)
        assert wiz.currentPage() is page
        assert page.split.centres.isChecked()
        rechecked(page, 4)
        wiz.next()
        assert wiz.config["fragment_classes"] == "edge+centre"
        assert "4 classes are kept" in mp.split_note.note.text()
        # an edge-split fragment model from a file: rock_centre is new, and the note says it starts untrained
        mp.ckpt.setText(str(make_fragment_checkpoint(tmp_path / "edge.pt")))
        mp.from_file.setChecked(True)
        text = mp.split_note.note.text()
        assert "splits touching rocks by edges" in text and "starts untrained" in text
        assert not mp.split_note.keep_btn.isVisible()
        mp.from_scratch.setChecked(True)  # no checkpoint: nothing to compare with
        assert mp.split_note.isHidden()
    finally:
        wiz.shutdown()
        wiz.close()


def test_fine_tuning_a_centre_split_model_keeps_its_four_classes(qtbot, runs_env, outlines, tmp_path):
    """The viewer's centre-split model corrected with outlines, every choice left as the wizard proposes it:
    the new checkpoint still has rock_centre and splits by centres."""
    from segtool.gui.wizard import TrainingWizard
    from segtool.models import load_checkpoint

    start = make_centre_checkpoint(tmp_path / "centre.pt")
    wiz = TrainingWizard(str(start), runs_env)
    qtbot.addWidget(wiz)
    wiz.show()
    try:
        check_data(qtbot, wiz, outlines)
        wiz.next()
        assert wiz.model_page.from_viewer.isChecked()
        wiz.next()
        sp = wiz.schedule_page
        sp.device.setCurrentIndex(sp.device.findData("cpu"))
        sp.epochs.setValue(1)
        sp.crop.setValue(64)
        click(wiz.button(wiz.WizardButton.CommitButton))
        wait_until(lambda: wiz.run.outcome is not None, RUN_TIMEOUT_MS)
        assert wiz.run.outcome.kind == "finished", wiz.run.outcome
        ck = load_checkpoint(Path(wiz.config["output"]) / "best.pt")
        assert ck.class_names == NAMES4
        assert ck.fragments == CENTRE_ENTRY
    finally:
        wiz.shutdown()
        wiz.close()


def test_start_split_note_for_every_case():
    from segtool.gui.wizard.fragment_split import start_split_note

    edge = {"interior": "rock", "edge": "rock_edge"}
    assert start_split_note(CENTRE_ENTRY, "edge")[1] is True
    assert start_split_note(CENTRE_ENTRY, "edge+centre") == (
        "Touching rocks are split by centres, as by the model you start from: its 4 classes are kept.",
        False,
    )
    assert (
        "splits touching rocks by edges; your data add rock_centre"
        in start_split_note(edge, "edge+centre")[0]
    )
    assert "is no fragment model" in start_split_note(None, "edge+centre")[0]
    assert start_split_note(edge, "edge") == ("", False)


def test_wording_names_the_split_choice():
    from segtool.gui.wizard.wording import in_app_words

    got = in_app_words("--fragment-classes must be edge or edge+centre; got 'x'")
    assert got.startswith("'How touching rocks are split' on the Data page must be")
    assert (
        in_app_words("use --fragment-classes edge+centre")
        == "use 'How touching rocks are split' on the Data page"
    )


@pytest.mark.slow
def test_real_gravel_outlines_get_the_choice_and_rock_centre(qtbot, wizard, shared_data):
    """The gravel photos' outlines (rocks_dense/gravel: images/ + instances/): the choice is shown, and
    edges + centres draws a rock_centre core in every photo."""
    gravel = shared_data / "rocks_dense" / "gravel"
    if not (gravel / "instances").is_dir():
        pytest.skip(f"{gravel} not found")
    page = wizard.data_page
    check_data(qtbot, wizard, gravel)
    assert page.check.form == "instances" and page.split.isVisible()
    assert class_names(page) == NAMES3
    before = shares(page)
    click(page.split.centres)
    rechecked(page, 4)
    assert class_names(page) == NAMES4
    photos = page.check.reports[0]["counts"]["pairs"]
    assert page.classes.item(3, 3).text() == str(photos)  # a core in every photo
    after = shares(page)
    assert after[0] == pytest.approx(before[0], abs=0.02)  # background untouched
    assert after[3] > 1.0
    # the cores come out of the inside, the edge band stays (thin fragments' cores lie over it)
    assert after[1] + after[2] + after[3] == pytest.approx(before[1] + before[2], abs=0.05)
    assert after[2] <= before[2] + 0.02
