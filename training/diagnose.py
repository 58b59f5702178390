"""Warnings about a model that scores well on paper but is useless: it never predicts a class that is in
the validation labels, or it predicts one class everywhere.

mIoU and pixel accuracy hide this on sparse labels: a rock model that paints background everywhere gets
pixel accuracy 0.997 and mIoU 0.50 on masks where rocks cover 0.6 % of the pixels. The same warnings go
into report.json (`"warnings"`), the CLI's last lines and the wizard's Results page, so every place says
the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EVERYWHERE = 0.995  # one class taking this share of all predicted pixels counts as "everywhere"
RARE_SHARE = 0.01  # a class under this share of labelled pixels is rare enough to ask if labels are sparse

# What to try, in the words of the app and the CLI alike (the CLI adds its option names, see cli_hint).
TRY = (
    "if only some of it is painted in each photo (sparse labels), mark the unpainted pixels as unknown "
    "instead of background",
    "class weights (log or median) for rare classes",
    "more epochs",
    "a pretrained start (ImageNet weights or an existing model)",
)
CLI_HINT = "segtool train options: --class-weights log, --epochs N, --init imagenet or --init MODEL.pt"


def model_warnings(matrix: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str]) -> list[dict]:
    """Warnings for a validation confusion matrix (rows = labels, columns = predictions).

    Returns:
        One dict per problem: ``{"class": name, "problem": "never_predicted" | "iou_zero" |
        "predicts_one_class", "message": str, "try": [str]}``. Empty for a model without these problems.
    """
    m = np.asarray(matrix, dtype=np.float64)
    total = m.sum()
    if total <= 0:
        return []
    label_px, pred_px, tp = m.sum(axis=1), m.sum(axis=0), np.diag(m)
    present = [i for i in range(len(class_names)) if label_px[i] > 0]
    out: list[dict] = []
    top = int(np.argmax(pred_px))
    if len(present) > 1 and pred_px[top] / total >= EVERYWHERE:
        others = [class_names[i] for i in present if i != top]
        out.append(
            {
                "class": class_names[top],
                "problem": "predicts_one_class",
                "message": f"the model predicts {class_names[top]!r} almost everywhere "
                f"({100 * pred_px[top] / total:.2f} % of the validation pixels), although the labels also hold "
                f"{', '.join(repr(n) for n in others)}",
                "try": list(TRY),
            }
        )
    for i in present:
        if tp[i] > 0:
            continue
        share = 100 * label_px[i] / total
        what = "never predicts" if pred_px[i] == 0 else "never correctly predicts"
        out.append(
            {
                "class": class_names[i],
                "problem": "never_predicted" if pred_px[i] == 0 else "iou_zero",
                "message": f"the model {what} {class_names[i]!r} (IoU 0.00) although it covers {share:.2f} % "
                f"of the validation labels ({int(label_px[i]):,} px)",
                "try": list(TRY),
            }
        )
    return out


def warning_lines(warnings: Sequence[dict]) -> list[str]:
    """One sentence per warning, with what to try (for text output and the app)."""
    return [f"{w['message']}. Try: {'; '.join(w['try'])}." for w in warnings]


def rare_classes(
    shares: Sequence[float], class_names: Sequence[str], *, skip_first: bool = True
) -> list[tuple[str, float]]:
    """Classes (other than class 0, the background, unless `skip_first` is off) with labelled pixels
    under RARE_SHARE of all labelled pixels: (name, share)."""
    start = 1 if skip_first else 0
    return [(class_names[i], float(s)) for i, s in enumerate(shares) if i >= start and 0 < s < RARE_SHARE]
