"""A tiny SAM-layout encoder/decoder pair (issue 21), exported to ONNX by torch in the test that needs it:
the inputs and outputs of a segment-anything export (names, ranks, the padding point, low-res logits), with a
trivial "model": the object is the cells as bright as the clicked one. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import torch

from segtool.core.sam_onnx import MEAN, STD

SIDE, CELL = 64, 4  # the tiny encoder's input side and embedding cell (SAM: 1024 and 16)


class TinyEncoder(torch.nn.Module):
    """1x3xSxS normalised picture -> 1x1x(S/4)x(S/4) embedding: each cell's brightness (0-255)."""

    def forward(self, image):
        raw = image * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
        return torch.nn.functional.avg_pool2d(raw.mean(1, keepdim=True), CELL)


class TinyDecoder(torch.nn.Module):
    """The object = cells as bright as the clicked cell (within 90: half the contrast of the test picture); a second, inverted mask scores lower."""

    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size):
        e = image_embeddings[0, 0]
        n = e.shape[0]
        centres = (torch.arange(n, dtype=torch.float32) + 0.5) * CELL
        gx = torch.exp(-((point_coords[0, :, 0:1] - centres[None]) ** 2) / 8.0)  # N x n
        gy = torch.exp(-((point_coords[0, :, 1:2] - centres[None]) ** 2) / 8.0)
        wgt = gy[:, :, None] * gx[:, None, :] * (point_labels[0] == 1).float()[:, None, None]
        v = (wgt * e[None]).sum((0, 1, 2)) / wgt.sum().clamp(min=1e-6)
        low = (90.0 - (e - v).abs())[None, None]
        low_res = torch.cat([low, -low], 1)
        iou = (
            torch.stack([torch.tensor(0.9), torch.tensor(0.1)])[None]
            + 0 * mask_input.sum()
            + 0 * has_mask_input.sum()
            + 0 * orig_im_size.sum()
        )
        return low_res, iou, low_res


def export_tiny_sam(d: Path) -> tuple[Path, Path]:
    """Write d/tiny.encoder.onnx and d/tiny.decoder.onnx; return their paths."""
    enc, dec = d / "tiny.encoder.onnx", d / "tiny.decoder.onnx"
    torch.onnx.export(
        TinyEncoder(),
        (torch.zeros(1, 3, SIDE, SIDE),),
        str(enc),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["image_embeddings"],
    )
    n = SIDE // CELL
    args = (
        torch.zeros(1, 1, n, n),
        torch.zeros(1, 2, 2),
        torch.zeros(1, 2),
        torch.zeros(1, 1, 4 * n, 4 * n),
        torch.zeros(1),
        torch.tensor([48.0, 64.0]),
    )
    torch.onnx.export(
        TinyDecoder(),
        args,
        str(dec),
        dynamo=False,
        opset_version=17,
        input_names=[
            "image_embeddings",
            "point_coords",
            "point_labels",
            "mask_input",
            "has_mask_input",
            "orig_im_size",
        ],
        output_names=["masks", "iou_predictions", "low_res_masks"],
        dynamic_axes={"point_coords": {1: "n"}, "point_labels": {1: "n"}},
    )
    return enc, dec
