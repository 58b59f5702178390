"""The developer screenshot scripts in tools/screenshots use the window's public API; run one so that a
change to the window cannot leave them broken unnoticed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "screenshots"


def _load(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))  # the scripts import their shared _qt module as siblings
    spec = importlib.util.spec_from_file_location(f"screenshot_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_screenshot_saves_the_window_at_the_asked_frame(
    qapp, gui_checkpoint, clip, tmp_path, monkeypatch
):
    app_shot = _load("app", monkeypatch)
    out = tmp_path / "shots" / "app.png"
    rc = app_shot.main(
        [
            str(out),
            "--source",
            str(clip),
            "-c",
            str(gui_checkpoint),
            "--frame",
            "7",
            "--size",
            "900x600",
            "--mode",
            "mask",
        ]
    )
    assert rc == 0
    assert out.is_file()
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (600, 900, 3)
    # mask mode paints the frame in class colours: the rock colour covers a good part of the window (the
    # legend's rock icon alone is 196 px), so the asked mode, frame and mask were on screen when it was saved
    assert (img == [250, 50, 83]).all(axis=-1).mean() > 0.05
