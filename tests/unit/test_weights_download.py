"""The training child's weights download (`train_process._download_pretrained`), served from a local
file:// URL through the real urllib: the file appears in torch's cache only complete with the right hash."""

from __future__ import annotations

import hashlib
import types

import torch

from segtool.core import train_process


def _serve(tmp_path, monkeypatch, payload: bytes, name_hash: str):
    src = tmp_path / "srv" / f"weights-{name_hash}.pth"
    src.parent.mkdir()
    src.write_bytes(payload)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    from segtool.models import pretrained

    monkeypatch.setattr(
        pretrained, "weights_entry", lambda backbone, init: types.SimpleNamespace(url=src.as_uri())
    )
    events: list[dict] = []
    cfg = types.SimpleNamespace(init="imagenet", weights_file=None, backbone="resnet18")
    train_process._download_pretrained(cfg, events.append)
    return hub / "checkpoints" / src.name, events


def test_a_download_lands_under_its_cache_name_complete(tmp_path, monkeypatch):
    payload = b"w" * 3_000_000
    dest, events = _serve(tmp_path, monkeypatch, payload, hashlib.sha256(payload).hexdigest()[:8])
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary left beside it
    assert events[-1] == {
        "event": "download",
        "done": len(payload),
        "total": len(payload),
        "url": events[-1]["url"],
    }


def test_a_damaged_download_leaves_nothing_and_says_so(tmp_path, monkeypatch):
    dest, events = _serve(tmp_path, monkeypatch, b"not the weights", "0123abcd")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the temporary was removed too
    assert events[-1]["event"] == "message"
    assert "hash mismatch" in events[-1]["text"]
