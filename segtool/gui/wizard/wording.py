"""Messages from core and training are written for the command line (`--images DIR`, `--batch-size 4`);
the app shows them in the words of its own buttons and fields. One table, so every page says the same."""

from __future__ import annotations

import re

# (pattern, replacement), applied in order; the specific forms come before the bare option names.
_RULES: tuple[tuple[str, str], ...] = (
    (
        r"pass the image folder with --images DIR \(images=DIR\)",
        "choose the photos folder in the Photos field",
    ),
    (r"--images DIR(?: \(images=DIR\))?", "the Photos field"),
    (r"(?:check the |drop )?--images(?: \S+)? folder", "the Photos field"),
    (r"drop --images", "empty the Photos field"),
    (r"--images (\S+) is not a folder", r"the Photos field (\1) is not a folder"),
    (r"--images", "the Photos field"),
    (r"pass it with --weights-file PATH", "choose it with Local file… on the Model page"),
    (r"--weights-file(?: PATH)?", "Local file… on the Model page"),
    (r"--batch-size (\d+)", r"Batch size \1 (Schedule ▸ Advanced)"),
    (r"--crop-size (\d+)", r"Crop \1 px (Schedule ▸ Advanced)"),
    (r"--batch-size", "Batch size (Schedule ▸ Advanced)"),
    (r"--crop-size", "Crop (Schedule ▸ Advanced)"),
    (r"--epochs", "Epochs (Schedule ▸ Advanced)"),
    (r"--repeat (\d+)", r"Repeat photos per epoch \1 (Schedule ▸ Advanced)"),
    (r"--repeat", "Repeat photos per epoch (Schedule ▸ Advanced)"),
    (r"[Ll]ower --lr", "Lower the Learning rate (Schedule ▸ Advanced)"),
    (r"--lr", "Learning rate (Schedule ▸ Advanced)"),
    (r"--optimizer", "Optimizer (Schedule ▸ Advanced)"),
    (r"--no-freeze-backbone", "untick 'keep the backbone as it is' (Schedule ▸ Advanced)"),
    (r"--freeze-backbone", "'keep the backbone as it is' (Schedule ▸ Advanced)"),
    (r"--eval-size", "Input size (Model page)"),
    (r"--class-weights", "Class weights (Schedule ▸ Advanced)"),
    (r"add a val/ folder or use --val", "add a val/ folder or choose a Random split"),
    (r"--val(?: DATA)?", "a validation split (Random split on the Data page)"),
    (r"--unknown-class(?: NAME)?", "'Unpainted pixels are unknown' on the Data page"),
    (r"--fragment-classes(?: edge\+centre| edge)?", "'How touching rocks are split' on the Data page"),
    (r"--classes(?: FILE)?", "the Classes field"),
    (r"--init(?: \S+)?", "Start from (Model page)"),
    (r"--resume", "Resume"),
    (r"run `segtool train --check DATA` for the full report", "the Data page shows the full report"),
)


def in_app_words(text: str) -> str:
    """`text` with command-line options replaced by the app's buttons and fields."""
    for pattern, repl in _RULES:
        text = re.sub(pattern, repl, text)
    return text
