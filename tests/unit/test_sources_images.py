"""Image and folder sources, and how `open_source` reads a SOURCE spec."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segtool.core.errors import UserInputError
from segtool.core.sources import (
    IMAGE_EXTENSIONS,
    FolderSource,
    ImageSource,
    load_image,
    natural_key,
    open_source,
)


def _pattern(h: int = 30, w: int = 40) -> np.ndarray:
    """An asymmetric test picture (so any rotation or flip shows)."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, (x + 2 * y) % 256], axis=2).astype(np.uint8)
    rgb[:5, :10] = 255  # a white block top-left
    return rgb


def _check_rgb(rgb: np.ndarray, size: tuple[int, int]) -> None:
    assert rgb.dtype == np.uint8
    assert rgb.shape == (*size, 3)
    assert rgb.flags.c_contiguous


# --- single images and conversions -------------------------------------------------------------


def test_png_image(tmp_path):
    img = _pattern()
    Image.fromarray(img).save(tmp_path / "a.png")
    with open_source(tmp_path / "a.png") as src:
        assert isinstance(src, ImageSource)
        assert (src.kind, src.is_live, src.frames_expected, src.fps) == ("image", False, 1, None)
        assert src.description == "image a.png (40x30)"
        (frame,) = list(src.frames())
    assert (frame.index, frame.pts_s, frame.name) == (0, None, "a.png")
    _check_rgb(frame.rgb, (30, 40))
    assert np.array_equal(frame.rgb, img)


@pytest.mark.parametrize("orientation, turn", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_applied(tmp_path, orientation, turn):
    """EXIF 6 = the camera was turned: show the stored pixels turned 90° clockwise (np k=-1)."""
    img = _pattern()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(img).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    rgb = load_image(tmp_path / "phone.jpg")
    expected = np.rot90(img, turn)
    _check_rgb(rgb, expected.shape[:2])
    assert np.abs(rgb.astype(int) - expected).mean() < 4


def test_16bit_gray_png(tmp_path):
    gray16 = (np.arange(30 * 40, dtype=np.uint32).reshape(30, 40) * 53 % 65536).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    rgb = load_image(tmp_path / "g16.png")
    _check_rgb(rgb, (30, 40))
    assert np.array_equal(rgb[:, :, 0], (gray16 >> 8).astype(np.uint8))
    assert np.array_equal(rgb[:, :, 0], rgb[:, :, 2])


def test_16bit_rgb_png(tmp_path):
    rgb16 = (_pattern().astype(np.uint16) * 257 + 100).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[:, :, ::-1])  # OpenCV writes BGR
    rgb = load_image(tmp_path / "c16.png")
    _check_rgb(rgb, (30, 40))
    assert np.array_equal(rgb, (rgb16 >> 8).astype(np.uint8))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "1", "CMYK"])
def test_other_modes_become_rgb(tmp_path, mode):
    im = Image.fromarray(_pattern()).convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    if mode == "CMYK":
        im.save(tmp_path / f"x.{ext}", quality=95)
    else:
        im.save(tmp_path / f"x.{ext}")
    rgb = load_image(tmp_path / f"x.{ext}")
    _check_rgb(rgb, (30, 40))
    assert np.abs(rgb.astype(int) - np.asarray(im.convert("RGB"), dtype=int)).mean() < 3


def test_rgba_keeps_colour_under_alpha(tmp_path):
    rgba = np.dstack([_pattern(), np.full((30, 40), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert np.array_equal(load_image(tmp_path / "t.png"), rgba[:, :, :3])


def test_zero_byte_image(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UserInputError, match=r"empty\.png.*0 bytes"):
        open_source(tmp_path / "empty.png")


def test_unreadable_image(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    with pytest.raises(UserInputError, match=r"broken\.jpg"):
        open_source(tmp_path / "broken.jpg")


def test_truncated_image(tmp_path):
    Image.fromarray(_pattern(300, 400)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match=r"cut\.png"):
        open_source(tmp_path / "cut.png")


def test_real_photo(shared_data):
    """A real 1600x1066 JPEG from the rocks set."""
    path = shared_data / "rocks" / "val" / "images" / "4.jpeg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    (frame,) = list(open_source(path).frames())
    assert frame.rgb.dtype == np.uint8
    assert frame.rgb.ndim == 3
    assert frame.rgb.flags.c_contiguous
    assert frame.name == "4.jpeg"


# --- folders -----------------------------------------------------------------------------------


def test_natural_key():
    names = ["img10.png", "img2.png", "IMG1.png", "img2b.png", "a.png", "img02.png"]
    assert sorted(names, key=natural_key)[:2] == ["a.png", "IMG1.png"]
    assert sorted(names, key=natural_key).index("img2.png") < sorted(names, key=natural_key).index(
        "img10.png"
    )


def _make_folder(root: Path) -> Path:
    root.mkdir()
    for k, name in enumerate(["img10.png", "img2.png", "img1.jpg", "IMG3.PNG"]):
        Image.fromarray(np.full((8, 12, 3), 10 * k, np.uint8)).save(root / name)
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "sub").mkdir()
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(root / "sub" / "img0.png")
    return root


def test_folder_natural_order_and_skips(tmp_path):
    root = _make_folder(tmp_path / "shots")
    with open_source(root) as src:
        assert isinstance(src, FolderSource)
        assert (src.kind, src.is_live, src.frames_expected, src.fps) == ("folder", False, 4, None)
        assert src.skipped == ["notes.txt", "sub/"]  # hidden files are not worth a warning
        assert src.description == "folder shots (4 images)"
        frames = list(src.frames())
        assert [f.name for f in frames] == ["img1.jpg", "img2.png", "IMG3.PNG", "img10.png"]
        assert [f.index for f in frames] == [0, 1, 2, 3]
        assert all(f.pts_s is None for f in frames)
        assert [f.name for f in src.frames(start=1, every=2)] == ["img2.png", "img10.png"]
        assert src.read(3).name == "img10.png"
        assert frames[1].rgb[0, 0, 0] == 10  # img2.png was written second (value 10)


def test_folder_of_real_frames(shared_data):
    val = shared_data / "camvid" / "val"
    if not val.is_dir():
        pytest.skip(f"{val} not found")
    with open_source(val) as src:
        assert src.frames_expected == len(list(val.glob("*.png")))
        first = next(iter(src.frames()))
        assert first.name == sorted(p.name for p in val.glob("*.png"))[0]
        assert first.size == (360, 480)


def test_folder_without_images(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("x")
    with pytest.raises(UserInputError) as e:
        open_source(tmp_path / "docs")
    msg = str(e.value)
    assert "docs" in msg
    assert "readme.txt" in msg
    assert all(ext in msg for ext in IMAGE_EXTENSIONS)


def test_empty_folder(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(UserInputError, match=r"no images.*\.png"):
        open_source(tmp_path / "nothing")


def test_folder_with_bad_images_fails_before_work(tmp_path):
    root = _make_folder(tmp_path / "shots")
    (root / "img5.png").write_bytes(b"")
    (root / "img6.jpg").write_bytes(b"garbage" * 20)
    with pytest.raises(UserInputError) as e:
        open_source(root)
    assert "img5.png (0 bytes)" in str(e.value)
    assert "img6.jpg" in str(e.value)


def test_folder_image_broken_after_open(tmp_path):
    root = _make_folder(tmp_path / "shots")
    src = open_source(root)
    shutil.copyfile(root / "notes.txt", root / "img2.png")  # replaced while the run goes on
    it = src.frames()
    assert next(it).name == "img1.jpg"
    with pytest.raises(UserInputError, match=r"img2\.png"):
        next(it)


# --- SOURCE spec parsing -----------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(UserInputError, match=r"nope\.mp4.*does not exist"):
        open_source(tmp_path / "nope.mp4")


def test_bare_number_hints_camera():
    with pytest.raises(UserInputError, match="cam:7"):
        open_source("7")


@pytest.mark.parametrize("spec", ["cam:", "cam:abc", "cam:-1"])
def test_bad_camera_spec(spec):
    with pytest.raises(UserInputError, match="cam:0"):
        open_source(spec)


def test_unsupported_url_scheme():
    with pytest.raises(UserInputError, match=r"'ftp'.*rtsp://"):
        open_source("ftp://example.invalid/video.mp4")


def test_empty_spec():
    with pytest.raises(UserInputError, match="empty"):
        open_source("  ")


def test_file_url_and_pathlike(tmp_path):
    Image.fromarray(_pattern()).save(tmp_path / "a.png")
    assert open_source(f"file://{tmp_path / 'a.png'}").kind == "image"
    assert open_source(str(tmp_path / "a.png")).kind == "image"
