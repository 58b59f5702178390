"""Live sources: cameras (OpenCV) and network streams (PyAV over a real HTTP server on 127.0.0.1).

No camera is attached in CI, so the camera's read loop runs on a real `cv2.VideoCapture` of the
test clip, which "unplugs" when the clip ends. The stream tests serve the real clip from a small
HTTP server with Range support that can cut the connection part-way or stop answering.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segtool.core.errors import SourceInterrupted, UserInputError
from segtool.core.sources import CameraSource, StreamSource, open_source
from segtool.core.sources.live import redact_url

CLIP = "clips/camvid_0016E5_val_15fps.mp4"
N = 101


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    path = shared_data / CLIP
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def truth(shared_data: Path) -> list[np.ndarray]:
    pngs = sorted((shared_data / "camvid" / "val").glob("0016E5_*.png"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in pngs]


def _closest(rgb: np.ndarray, i: int, truth: list[np.ndarray]) -> bool:
    def d(j):
        return np.abs(rgb.astype(np.int16) - truth[j].astype(np.int16)).mean()

    return all(d(i) < d(j) for j in (i - 1, i + 1) if 0 <= j < len(truth))


# --- camera ------------------------------------------------------------------------------------


def test_missing_camera_index():
    t0 = time.monotonic()
    with pytest.raises(UserInputError, match=r"cam:97.*cam:0"):
        open_source("cam:97")
    assert time.monotonic() - t0 < 10


def test_camera_unplugged_midway(clip, truth):
    cap = cv2.VideoCapture(str(clip))
    src = CameraSource(0, capture=cap, label="test camera")
    assert (src.kind, src.is_live, src.frames_expected) == ("camera", True, None)
    assert src.description.startswith("test camera (480x360")
    got = []
    with src, pytest.raises(SourceInterrupted) as e:
        for f in src.frames():
            got.append(f)
    assert [f.index for f in got] == list(range(N))
    assert e.value.last_index == N - 1
    assert "test camera" in str(e.value)
    assert all(f.rgb.flags.c_contiguous and f.rgb.dtype == np.uint8 for f in got)
    assert _closest(got[0].rgb, 0, truth)  # RGB, not BGR
    assert _closest(got[50].rgb, 50, truth)
    assert got[1].pts_s >= got[0].pts_s >= 0


def test_camera_every_and_single_use(clip):
    src = CameraSource(0, capture=cv2.VideoCapture(str(clip)))
    assert [f.index for f in src.frames(start=2, end=12, every=4)] == [2, 6, 10]
    with pytest.raises(RuntimeError):
        src.frames()
    src.close()


# --- HTTP server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    data: bytes = b""
    drop_at: int | None = None  # cut the first response that crosses this byte offset
    gone_after_drop = False  # after the cut, close every new connection without answering
    gone = False
    requests = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.requests += 1
        if srv.gone:
            self.close_connection = True
            return
        data, start, end = srv.data, 0, len(srv.data) - 1
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m:
            start, end = int(m[1]), int(m[2]) if m[2] else end
        body = data[start : end + 1]
        self.send_response(206 if m else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        try:
            if srv.drop_at is not None and start < srv.drop_at <= end:
                self.wfile.write(body[: srv.drop_at - start])
                self.wfile.flush()
                srv.drop_at = None
                srv.gone = srv.gone_after_drop
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (seek): normal for a video player


@pytest.fixture
def server(clip):
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.data = clip.read_bytes()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/clip.mp4"
    yield srv
    srv.shutdown()
    srv.server_close()


# --- streams -----------------------------------------------------------------------------------


def test_stream_complete(server, truth):
    with open_source(server.url, connect_timeout_s=5) as src:
        assert isinstance(src, StreamSource)
        assert (src.kind, src.is_live, src.frames_expected, src.fps) == ("stream", True, N, 15.0)
        assert src.description.startswith(f"stream {server.url} (480x360")
        frames = list(src.frames())
    assert [f.index for f in frames] == list(range(N))
    assert frames[10].pts_s == pytest.approx(10 / 15)
    assert all(_closest(f.rgb, f.index, truth) for f in frames[::10])


def test_stream_reconnects_and_resumes(server, truth):
    server.drop_at = len(server.data) * 2 // 5
    with open_source(server.url, connect_timeout_s=5, max_reconnects=2) as src:
        frames = list(src.frames())
        assert src.reconnects == 1
    assert [f.index for f in frames] == list(range(N)), "each frame exactly once, none lost"
    assert all(_closest(f.rgb, f.index, truth) for f in frames[30:50])
    assert np.all(np.diff([f.pts_s for f in frames]) > 0)


def test_stream_gone_after_reconnects(server):
    server.drop_at, server.gone_after_drop = len(server.data) // 3, True
    got = []
    t0 = time.monotonic()
    with open_source(server.url, connect_timeout_s=2, max_reconnects=2) as src:
        with pytest.raises(SourceInterrupted) as e:
            for f in src.frames():
                got.append(f)
        assert src.reconnects == 2
    assert 0 < len(got) < N
    assert e.value.last_index == got[-1].index
    assert "2 reconnection(s) failed" in str(e.value)
    assert time.monotonic() - t0 < 15


def test_unreachable_stream_is_user_error():
    with socket.socket() as s:  # a free port with nobody listening: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserInputError, match=rf"127\.0\.0\.1:{port}"):
        open_source(f"http://127.0.0.1:{port}/live.mp4", connect_timeout_s=2)


def test_silent_server_times_out():
    """The server accepts the connection but never answers: give up within the connect timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)  # the kernel accepts; nobody ever reads or writes
        port = s.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(UserInputError, match="cannot be opened"):
            open_source(f"http://127.0.0.1:{port}/live", connect_timeout_s=1.0)
        assert time.monotonic() - t0 < 4


def test_bad_stream_arguments(server):
    with pytest.raises(UserInputError, match="connect_timeout_s"):
        open_source(server.url, connect_timeout_s=0)
    with pytest.raises(UserInputError, match="max_reconnects"):
        open_source(server.url, max_reconnects=-1)


def test_password_not_in_messages():
    assert redact_url("rtsp://admin:secret@10.0.0.5:554/s1") == "rtsp://admin:***@10.0.0.5:554/s1"
    assert redact_url("http://host/x.mp4") == "http://host/x.mp4"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserInputError) as e:
        open_source(f"http://bob:hunter2@127.0.0.1:{port}/x", connect_timeout_s=1)
    assert "hunter2" not in str(e.value)
