"""Output sinks of `segtool predict`: where masks, overlays and tables go (Qt-free).

The pipeline's writer thread drives one `SinkGroup`; the layout of the files is documented for users
in docs/outputs.md and the resume protocol in `segtool.core.sinks.base`.
"""

from __future__ import annotations

from segtool.core.sinks.base import Key, Sink, SinkGroup, frame_key
from segtool.core.sinks.png import OverlayJpgSink, PngMaskSink
from segtool.core.sinks.tables import CoverageCsvSink, write_summary
from segtool.core.sinks.video import Ffv1MaskSink, OverlayVideoSink, decode_video_frames, partial_path

__all__ = [
    "Key",
    "Sink",
    "SinkGroup",
    "frame_key",
    "PngMaskSink",
    "OverlayJpgSink",
    "Ffv1MaskSink",
    "OverlayVideoSink",
    "CoverageCsvSink",
    "write_summary",
    "decode_video_frames",
    "partial_path",
]
