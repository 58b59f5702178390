"""The trainer's parts on hand-made inputs: augmentation, class weights, loss, schedule, initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from segtool.base.errors import UserInputError
from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint
from segtool.models.preprocess import network_size, preprocess
from segtool.training.config import TrainConfig
from segtool.training.init import build_model
from segtool.training.losses import class_pixel_stats, class_weights, make_criterion
from segtool.training.optim import PolyWithWarmup, build_optimizer
from segtool.training.transforms import epoch_order, train_transform


def _pair(h: int, w: int):
    img = tv_tensors.Image(torch.full((3, h, w), 200, dtype=torch.uint8))
    mask = torch.zeros((h, w), dtype=torch.uint8)
    mask[:, w // 2 :] = 1
    return img, tv_tensors.Mask(mask)


def test_crop_pads_labels_with_ignore_index_never_zero():
    torch.manual_seed(0)
    t = train_transform(64, eval_size=None, scale=(1.0, 1.0), hflip=False)
    x, y = t(*_pair(20, 30))
    assert x.shape == (3, 64, 64)
    assert x.dtype == torch.float32
    assert y.shape == (64, 64)
    assert y.dtype == torch.int64
    assert int((y != 255).sum()) == 20 * 30  # exactly the image's own pixels are labelled
    assert set(torch.unique(y).tolist()) == {0, 1, 255}
    # padded image pixels are black (0) before normalisation: (0 - mean) / std
    pad = y == 255
    assert torch.allclose(x[0][pad], torch.tensor((0 - 0.485) / 0.229), atol=1e-5)
    assert torch.allclose(x[0][~pad], torch.tensor((200 / 255 - 0.485) / 0.229), atol=1e-5)


def test_random_scale_keeps_labels_nearest_and_relative_to_eval_size():
    sizes = set()
    for seed in range(8):
        torch.manual_seed(seed)
        t = train_transform(32, eval_size=40, scale=(0.5, 2.0), hflip=True, color_jitter=True)
        _, y = t(*_pair(40, 60))
        assert set(torch.unique(y).tolist()) <= {0, 1, 255}  # never an interpolated label
        sizes.add(int((y != 255).sum()))
    assert len(sizes) > 1  # the scale really varies (some crops are padded, some are not)


def test_epoch_order_is_seeded_by_seed_and_epoch_only():
    a = epoch_order(10, 2, seed=3, epoch=1)
    assert sorted(a) == sorted(list(range(10)) * 2)
    assert a == epoch_order(10, 2, seed=3, epoch=1)
    assert a != epoch_order(10, 2, seed=3, epoch=2)


@pytest.mark.parametrize("resize_short", [90, 400, None])  # shrink (antialiased), enlarge, as it is
def test_preprocess_resizes_shorter_side_like_the_engine(small_checkpoint, resize_short):
    """The training/validation input is exactly the one the Engine feeds its network, so the mIoU stored in
    a checkpoint is what the app and `segtool eval` get: compared on a structured picture (synthetic rocks,
    not a constant image, which any resize and any mean would map to the same value)."""
    import dataclasses

    from segtool.core.engine import Engine
    from segtool.demo_footage import make_image
    from segtool.models import load_checkpoint

    rgb, _ = make_image(seed=3, size=(240, 180))
    assert rgb.std() > 20
    ck = load_checkpoint(small_checkpoint[0])
    ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=resize_short))
    engine = Engine(ck, device="cpu", runtime="torch")
    seen = []
    network = engine.backend.model
    engine.backend.model = lambda x: seen.append(x.clone()) or network(x)  # record what the network is given
    engine.predict_one(rgb)
    ours = preprocess(torch.from_numpy(rgb).permute(2, 0, 1)[None], ck.preprocess)
    assert len(seen) == 1
    assert ours.shape == seen[0].shape == (1, 3, *network_size(180, 240, resize_short))
    assert torch.allclose(ours, seen[0], atol=1e-5)
    assert ours.std() > 0.2  # normalised real structure, not a flat input


def test_class_weights_by_hand():
    masks = [
        np.array([[0, 0, 0, 1]], np.uint8),
        np.array([[0, 0, 255, 255]], np.uint8),
        np.array([[2, 2, 0, 0]], np.uint8),
    ]
    pixels, image_pixels = class_pixel_stats(masks, 3)
    assert pixels.tolist() == [7, 1, 2]  # 255 not counted
    assert image_pixels.tolist() == [10, 4, 4]  # labelled pixels of the images that contain the class
    log = class_weights("log", pixels).numpy()
    np.testing.assert_allclose(log, 1 / np.log(1.02 + np.array([0.7, 0.1, 0.2])), rtol=1e-6)
    med = class_weights("median", pixels, image_pixels).numpy()
    f = np.array([0.7, 0.25, 0.5])  # median 0.5
    np.testing.assert_allclose(med, 0.5 / f, rtol=1e-6)
    # an absent class does not disturb the median, and gets weight 1
    pixels2, ip2 = class_pixel_stats(masks, 4)
    assert class_weights("median", pixels2, ip2).numpy()[3] == 1.0


def test_criterion_ignores_void_and_weights_aux():
    out = torch.zeros((1, 2, 2, 2))
    out[0, 1] = 5.0  # confident class 1 everywhere
    target = torch.tensor([[[1, 255], [255, 255]]])
    main_only = make_criterion(aux_weight=0.0)({"out": out}, target)
    assert main_only.item() == pytest.approx(
        float(torch.nn.functional.cross_entropy(out[:, :, 0, 0], target[:, 0, 0]))
    )
    with_aux = make_criterion(aux_weight=0.5)({"out": out, "aux": torch.zeros_like(out)}, target)
    assert with_aux.item() == pytest.approx(main_only.item() + 0.5 * np.log(2), rel=1e-5)
    all_void = make_criterion(aux_weight=0.4)({"out": out.requires_grad_()}, torch.full((1, 2, 2), 255))
    assert all_void.item() == 0.0  # not NaN: a void crop is not a divergence
    assert torch.isfinite(all_void)


def test_poly_warmup_and_head_lr():
    f = PolyWithWarmup(total_steps=100, warmup=10, power=0.9, start=0.1)
    assert f(0) == pytest.approx(0.1)
    assert f(10) == pytest.approx((1 - 0.1) ** 0.9)
    assert f(100) == 0.0
    assert f(5) < f(10)
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2)
    opt = build_optimizer(model, name="sgd", lr=0.01, weight_decay=5e-4, head_lr_mult=10)
    assert [g["lr"] for g in opt.param_groups] == [0.01, pytest.approx(0.1)]
    assert opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[0]["weight_decay"] == 5e-4
    assert type(build_optimizer(model, name="adamw", lr=1e-4, weight_decay=1e-2)).__name__ == "AdamW"


def test_init_from_checkpoint_with_other_classes_recreates_the_head(tmp_path):
    torch.manual_seed(1)
    src = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=True)
    path = tmp_path / "rocks.pt"
    save_checkpoint(
        Checkpoint(
            config=src.config, classes=make_classes(["background", "rock"]), state_dict=src.state_dict()
        ),
        path,
    )
    cfg = TrainConfig(
        data="x", output="y", backbone="resnet50", init=str(path)
    )  # architecture comes from the file
    model, notes = build_model(cfg, ["background", "rock", "soil"])
    assert model.config.backbone == "mobilenet_v3_large"
    assert model.config.num_classes == 3
    sd, old = model.state_dict(), src.state_dict()
    assert sd["classifier.4.weight"].shape[0] == 3
    assert sd["aux_classifier.4.weight"].shape[0] == 3
    for k in (
        "backbone.0.0.weight",
        "classifier.0.convs.0.0.weight",
        "classifier.1.weight",
        "aux_classifier.0.weight",
    ):
        assert torch.equal(sd[k], old[k]), k
    assert any("re-created" in n and "new: soil" in n for n in notes)
    warning = next(n for n in notes if n.startswith("warning:"))
    assert warning.startswith("warning: 4 tensor(s) of rocks.pt (mobilenet_v3_large")
    assert "not loaded" in warning
    assert "classifier.4.weight: file [2, 256, 1, 1] vs model [3, 256, 1, 1]" in warning

    same, notes = build_model(cfg, ["background", "rock"])  # same classes: every tensor is taken
    assert all(torch.equal(v, old[k]) for k, v in same.state_dict().items())
    assert not any("re-created" in n or "warning" in n for n in notes)


def test_config_validation_names_the_option():
    with pytest.raises(UserInputError, match="--class-weights"):
        TrainConfig(data="d", output="o", class_weights="inverse").validate()
    with pytest.raises(UserInputError, match="--init"):
        TrainConfig(data="d", output="o", init="/no/such.pt").validate()
    with pytest.raises(UserInputError, match="--backbone"):
        TrainConfig(data="d", output="o", backbone="vgg16").validate()
    cfg = TrainConfig(data="d", output="o", optimizer="adamw")
    assert cfg.validate().base_lr == 1e-4
    assert TrainConfig.from_dict({**cfg.to_dict(), "future": 1}) == cfg


def test_classes_are_matched_by_name_and_a_renamed_class_is_mapped(tmp_path):
    """ "rock" renamed "rocks" in the data threw the trained classifier away; by name, and with
    class_map rock=rocks, each class keeps its own rows of the last layers (wherever it now sits)."""
    torch.manual_seed(1)
    src = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=True)
    path = tmp_path / "rocks.pt"
    save_checkpoint(
        Checkpoint(
            config=src.config, classes=make_classes(["background", "rock"]), state_dict=src.state_dict()
        ),
        path,
    )
    old = src.state_dict()
    cfg = TrainConfig(data="x", output="y", init=str(path))
    model, notes = build_model(cfg, ["soil", "background", "rocks"])  # background moved, rock renamed
    sd = model.state_dict()
    for key in (
        "classifier.4.weight",
        "classifier.4.bias",
        "aux_classifier.4.weight",
        "aux_classifier.4.bias",
    ):
        assert torch.equal(sd[key][1], old[key][0]), key  # background kept by name
        assert not torch.equal(sd[key][2], old[key][1]), key  # "rocks" is not "rock" without a map
    assert any("new: soil, rocks" in n and "--class-map" in n for n in notes)

    mapped, notes = build_model(
        TrainConfig(data="x", output="y", init=str(path), class_map="rock=rocks"),
        ["soil", "background", "rocks"],
    )
    sd = mapped.state_dict()
    for key in (
        "classifier.4.weight",
        "classifier.4.bias",
        "aux_classifier.4.weight",
        "aux_classifier.4.bias",
    ):
        assert torch.equal(sd[key][1], old[key][0]), key
        assert torch.equal(sd[key][2], old[key][1]), key
    assert any("rock→rocks" in n and "new: soil" in n for n in notes)
    renamed_only, _ = build_model(
        TrainConfig(data="x", output="y", init=str(path), class_map="rock=rocks"), ["background", "rocks"]
    )
    assert all(torch.equal(v, old[k]) for k, v in renamed_only.state_dict().items())
    with pytest.raises(UserInputError, match="OLD=NEW"):
        TrainConfig(data="x", output="y", class_map="rock").validate()
