"""Optional click-to-mask with a Segment-Anything (SAM) model the user already has as two ONNX files (issue 21).

Nothing is downloaded, ever: the user points at an encoder and a decoder exported the way labelme's and
X-AnyLabeling's SAM models are (the segment-anything ONNX layout, e.g. samexporter's
`sam_vit_b_01ec64.encoder.onnx` + `.decoder.onnx`). Run with onnxruntime on the CPU. Its quality on rock
fragments was **not** measured here (docs/labelling.md).

The layout, as those tools run it:
  encoder   one input: either 1x3xSxS float, RGB resized so its longer side is S (1024 for SAM), normalised
            with ImageNet's mean/std in 0-255 units and padded at the bottom/right; or (an export with the
            preprocessing inside) HxWx3 float RGB already resized. First output: the image embedding.
  decoder   inputs image_embeddings, point_coords (1xNx2, x/y in the resized picture's pixels, a padding
            point (0, 0) labelled -1 last), point_labels (1xN: 1 object, 0 not object, -1 padding),
            mask_input (1x1x4Ex4E zeros, E = the embedding's side), has_mask_input (1: 0), orig_im_size
            (2: H, W); outputs masks (logits), iou_predictions and, in newer exports, low_res_masks (logits
            at 4E, which are brought back to the frame here: resized to SxS, the padding cropped, resized).
Qt-free; the app computes the embedding once per frame in a background thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from segtool.base.errors import UserInputError

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
DECODER_INPUTS = (
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)


@dataclass(frozen=True)
class SamEmbedding:
    """One frame's image embedding and the sizes needed to map clicks and masks."""

    embedding: np.ndarray
    original_size: tuple[int, int]  # (H, W) of the frame
    resized_size: tuple[int, int]  # (H, W) the encoder saw before padding


def _resized(h: int, w: int, side: int) -> tuple[int, int]:
    s = side / max(h, w)
    return int(h * s + 0.5), int(w * s + 0.5)


class SamOnnx:
    """A SAM encoder + decoder pair (see the module docstring). Raises `UserInputError` for files that are
    missing, not ONNX, or not laid out as a SAM encoder/decoder, naming the file and what was expected."""

    def __init__(self, encoder: str | Path, decoder: str | Path, *, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        self.sessions = []
        for role, path in (("encoder", encoder), ("decoder", decoder)):
            p = Path(path)
            if not p.is_file():
                raise UserInputError(
                    f"SAM {role} {p}: no such file; choose the {role} .onnx of a SAM export "
                    "(e.g. sam_vit_b_01ec64.{role}.onnx)".replace("{role}", role)
                )
            try:
                self.sessions.append(ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]))
            except Exception as e:  # onnxruntime raises its own error types for a file that is not a model
                raise UserInputError(
                    f"SAM {role} {p} could not be opened by onnxruntime ({e}); choose an ONNX "
                    f"file exported for SAM"
                ) from None
        self.encoder, self.decoder = self.sessions
        names = [i.name for i in self.decoder.get_inputs()]
        missing = [n for n in DECODER_INPUTS if n not in names]
        if missing:
            raise UserInputError(
                f"SAM decoder {decoder} lacks the inputs {', '.join(missing)} (it has "
                f"{', '.join(names)}); choose the decoder of a segment-anything ONNX export, "
                "not the encoder or another model"
            )
        inp = self.encoder.get_inputs()[0]
        self.encoder_input, self.encoder_rank = inp.name, len(inp.shape)
        if self.encoder_rank not in (3, 4):
            raise UserInputError(
                f"SAM encoder {encoder} takes a rank-{self.encoder_rank} input {inp.shape}; a SAM "
                "encoder takes 1x3xSxS or HxWx3; did you swap encoder and decoder?"
            )
        side = inp.shape[-1] if self.encoder_rank == 4 else None
        self.side = (
            int(side) if isinstance(side, int) else 1024
        )  # SAM's long side; a fixed input says its own
        self.output_names = [o.name for o in self.decoder.get_outputs()]

    def encode(self, rgb: np.ndarray) -> SamEmbedding:
        """The image embedding of an HxWx3 uint8 RGB frame (the slow part: seconds for SAM ViT-B on a CPU)."""
        from PIL import Image

        h, w = rgb.shape[:2]
        rh, rw = _resized(h, w, self.side)
        x = np.asarray(
            Image.fromarray(np.ascontiguousarray(rgb)).resize((rw, rh), Image.Resampling.BILINEAR), np.float32
        )
        if self.encoder_rank == 4:
            x = ((x - MEAN) / STD).transpose(2, 0, 1)
            x = np.pad(x, ((0, 0), (0, self.side - rh), (0, self.side - rw)))[None]
        emb = self.encoder.run(None, {self.encoder_input: np.ascontiguousarray(x, np.float32)})[0]
        return SamEmbedding(emb, (h, w), (rh, rw))

    def mask_at(self, emb: SamEmbedding, points: list[tuple[float, float, int]]) -> np.ndarray:
        """HxW bool: the mask SAM gives for clicks (x, y, 1 = object / 0 = not) in frame pixels; of several
        masks, the one with the highest predicted IoU."""
        if not points:
            raise ValueError("give at least one click")
        h, w = emb.original_size
        rh, rw = emb.resized_size
        xy = np.array([[p[0], p[1]] for p in points] + [[0.0, 0.0]], np.float32)
        xy[:-1, 0] *= rw / w
        xy[:-1, 1] *= rh / h
        labels = np.array([int(p[2]) for p in points] + [-1], np.float32)
        e = emb.embedding
        feeds = {
            "image_embeddings": e.astype(np.float32),
            "point_coords": xy[None],
            "point_labels": labels[None],
            "mask_input": np.zeros((1, 1, 4 * e.shape[-2], 4 * e.shape[-1]), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array([h, w], np.float32),
        }
        out = dict(zip(self.output_names, self.decoder.run(None, feeds)))
        scores = np.asarray(out.get("iou_predictions", np.ones((1, 1), np.float32))).reshape(-1)
        k = int(np.argmax(scores))
        if "low_res_masks" in out:  # SAM's postprocessing outside the graph: right for every aspect ratio
            low = np.asarray(out["low_res_masks"], np.float32)[0, k]
            up = cv2.resize(low, (self.side, self.side), interpolation=cv2.INTER_LINEAR)[:rh, :rw]
            logits = cv2.resize(np.ascontiguousarray(up), (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            logits = np.asarray(out[self.output_names[0]], np.float32)[0, k]
            if logits.shape != (h, w):
                logits = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
        return logits > 0.0
