"""Pretrained initialisation from local files (tests never download) and the offline message."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

from segtool.models import PretrainedWeightsUnavailable, UserInputError, build_deeplabv3
from segtool.models.pretrained import download_state_dict, init_pretrained, weights_entry


def test_imagenet_backbone_from_local_file(tmp_path):
    torch.manual_seed(3)
    net = resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(net.state_dict(), path)
    model = build_deeplabv3(backbone="resnet18", num_classes=2, output_stride=8)
    notes = init_pretrained(model, "imagenet", weights_file=path)
    assert torch.equal(model.backbone.conv1.weight, net.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].conv2.weight, net.layer4[1].conv2.weight)
    assert "imagenet" in notes[0]


def test_coco_weights_keep_new_head_for_other_class_count(tmp_path):
    torch.manual_seed(4)
    tv = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    path = tmp_path / "coco.pth"
    torch.save(tv.state_dict(), path)
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=3, aux_head=True)
    head_before = model.classifier[4].weight.clone()
    notes = init_pretrained(model, "coco", weights_file=path)
    # the skipped class-specific layers are listed, with both shapes, never dropped silently
    assert "warning: 4 tensor(s)" in notes[1]
    assert "classifier.4.weight: file [21, 256, 1, 1] vs model [3, 256, 1, 1]" in notes[1]
    assert torch.equal(model.classifier[0].convs[0][0].weight, tv.classifier[0].convs[0][0].weight)
    assert torch.equal(model.classifier[4].weight, head_before)  # class-specific layer not taken
    assert torch.equal(model.backbone["16"][0].weight, tv.backbone["16"][0].weight)


def test_wrong_backbone_file_is_explained(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    model = build_deeplabv3(backbone="resnet50", num_classes=2)
    with pytest.raises(UserInputError, match="try --backbone resnet18"):
        init_pretrained(model, "imagenet", weights_file=path)


def test_no_coco_weights_for_resnet18():
    with pytest.raises(UserInputError, match="publishes no coco DeepLabV3 weights for resnet18"):
        weights_entry("resnet18", "coco")


def test_offline_download_gives_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # Port 9 on loopback: nothing listens, so the connection is refused at once (no traffic leaves the machine).
    with pytest.raises(PretrainedWeightsUnavailable, match="--weights-file PATH"):
        download_state_dict("http://127.0.0.1:9/deeplabv3_resnet50_coco-cd0a2569.pth", progress=False)
