"""`segtool import-weights` and `segtool info` through the real command line entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torchvision.models import segmentation as tvseg

from segtool import __version__
from segtool.cli import main
from segtool.models import load_checkpoint
from tests.helpers import randomize_bn_stats


@pytest.fixture(scope="module")
def seed_style_state_dict(tmp_path_factory):
    """Like the seed notebooks: torchvision resnet50 DeepLabV3 with the classifier replaced for 2 classes,
    aux head left at 21, saved from a DataParallel wrapper (`module.` prefix)."""
    torch.manual_seed(2)
    tv = tvseg.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    tv.classifier[4] = torch.nn.Conv2d(256, 2, 1)
    randomize_bn_stats(tv).eval()
    path = tmp_path_factory.mktemp("seed") / "deeplab_rocks.pth"
    torch.save({f"module.{k}": v for k, v in tv.state_dict().items()}, path)
    return path, tv


def test_version_and_help_from_the_console_script():
    out = subprocess.run(
        [sys.executable, "-m", "segtool", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"segtool {__version__}"
    help_text = subprocess.run(
        [sys.executable, "-m", "segtool", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("gui", "info", "import-weights"):
        assert command in help_text


def test_import_seed_style_file_then_info(seed_style_state_dict, tmp_path, capsys):
    src, tv = seed_style_state_dict
    out = tmp_path / "rocks.pt"
    rc = main(
        [
            "import-weights",
            str(src),
            "--backbone",
            "resnet50",
            "--classes",
            "background,rock",
            "--colors",
            "0,0,0;#fa3253",
            "-o",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "dropped the auxiliary head: it has 21 outputs" in printed
    assert "module." in printed  # the prefix removal is reported
    ckpt = load_checkpoint(out)
    assert ckpt.config.output_stride == 8
    assert ckpt.config.aspp_rates == (12, 24, 36)
    assert not ckpt.config.aux_head
    assert ckpt.classes[1] == {"name": "rock", "color": [250, 50, 83]}
    x = torch.randn(1, 3, 65, 77)
    with torch.no_grad():
        assert (tv(x)["out"] - ckpt.build_model()(x)["out"]).abs().max() <= 1e-5
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "backbone resnet50, output stride 8, ASPP rates 12/24/36" in info
    assert "rock" in info
    assert "(250,  50,  83)" in info
    assert "resize shorter side to 520 px" in info


def test_info_json(small_checkpoint, capsys):
    import json

    assert main(["info", str(small_checkpoint[0]), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"]["backbone"] == "mobilenet_v3_large"
    assert d["classes"][1]["name"] == "rock"
    assert d["parameters"] == sum(p.numel() for p in small_checkpoint[1].parameters())
    assert d["train"]["metrics"]["miou"] == 0.5


def _run_bad(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_import_bad_inputs_exit_2_with_a_reason(seed_style_state_dict, tmp_path, capsys):
    src = str(seed_style_state_dict[0])
    out = str(tmp_path / "x.pt")
    cases = [
        (["--backbone", "resnet50", "--classes", "a,b,c"], "predict 2 classes"),
        (["--backbone", "resnet101", "--classes", "a,b"], "looks like a resnet50 network"),
        (["--backbone", "resnet50", "--classes", "rock,rock"], "duplicate class name"),
        (["--backbone", "resnet50", "--classes", "a,b", "--colors", "0,0,0;300,1,1"], "not an RGB triple"),
        (["--backbone", "resnet50", "--classes", "a,b", "--colors", "0,0,0"], "2 class names but 1 colours"),
        (["--backbone", "resnet50", "--classes", "a,,b"], "empty name"),
    ]
    for extra, match in cases:
        rc, err = _run_bad(["import-weights", src, "-o", out, *extra], capsys)
        assert rc == 2, (extra, err)
        assert match in err, (extra, err)
    assert not (tmp_path / "x.pt").exists()


def test_unknown_backbone_is_a_usage_error(seed_style_state_dict, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            [
                "import-weights",
                str(seed_style_state_dict[0]),
                "--backbone",
                "vgg",
                "--classes",
                "a,b",
                "-o",
                "x.pt",
            ]
        )
    assert e.value.code == 2
    assert "invalid choice: 'vgg'" in capsys.readouterr().err


def test_info_on_bad_files(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    rc, err = _run_bad(["info", str(missing)], capsys)
    assert rc == 2
    assert "does not exist" in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    rc, err = _run_bad(["info", str(junk)], capsys)
    assert rc == 2
    assert "not a PyTorch file" in err
    sd = tmp_path / "plain.pth"
    torch.save({"backbone.conv1.weight": torch.zeros(1)}, sd)
    rc, err = _run_bad(["info", str(sd)], capsys)
    assert rc == 2
    assert "segtool import-weights" in err


def test_import_refuses_a_non_deeplab_state_dict(tmp_path, capsys):
    p = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, p)
    rc, err = _run_bad(
        [
            "import-weights",
            str(p),
            "--backbone",
            "resnet18",
            "--classes",
            "a,b",
            "-o",
            str(tmp_path / "o.pt"),
        ],
        capsys,
    )
    assert rc == 2
    assert "no 'backbone.*' weights" in err
