"""How touching rocks are split, for data made of outlined fragments (instance PNGs, COCO polygons): the
Data page's choice between the edge split (3 classes) and the learned centre split (4 classes, + rock_centre),
and the Model page's note when the model it starts from splits otherwise.

The choice is `TrainConfig.fragment_classes`, exactly the CLI's `--fragment-classes edge|edge+centre`: the
training (`training.data.instances`, `training.trainer.fragments_entry`) turns the outlines into the classes
and writes the checkpoint's `fragments` entry; nothing is decided here but which of the two to ask for.
"""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QRadioButton, QWidget

from segtool.models.checkpoint import splits_by_centres

# The data forms whose classes are drawn from fragment outlines (LabelledData.form); only these take the
# choice. A label set of a fragment model has its classes already: its model decides its split.
OUTLINE_FORMS = ("instances", "coco")
EDGE, CENTRE = "edge", "edge+centre"  # TrainConfig.fragment_classes

EDGES_TIP = (
    "background, rock and rock_edge: each fragment's inside is a seed, the edge band between touching rocks "
    "keeps them apart — the split of every fragment model shipped so far"
)
CENTRES_TIP = (
    "adds rock_centre, the core of every fragment: one seed per core, so rocks whose insides touch stay "
    "apart (measured better on dense piles, grains and belts, equal on gravel); costs a slightly slower "
    "split — splitting and measuring about 120 ms against 100 ms a 1080p frame on one CPU thread "
    "(docs/fragments.md)"
)


class SplitChoice(QWidget):
    """ "How touching rocks are split: ○ edges (3 classes) ○ edges + centres (4 classes …)"; the caller
    shows it only for outlined fragments (`OUTLINE_FORMS`)."""

    def __init__(self, centre: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.edges = QRadioButton("edges (3 classes)")
        self.centres = QRadioButton("edges + centres (4 classes, recommended for dense piles, grains, belts)")
        self.edges.setToolTip(EDGES_TIP)
        self.centres.setToolTip(CENTRES_TIP)
        self.group = QButtonGroup(self)
        for b in (self.edges, self.centres):
            self.group.addButton(b)
        (self.centres if centre else self.edges).setChecked(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("How touching rocks are split:"))
        row.addWidget(self.edges)
        row.addWidget(self.centres)
        row.addStretch(1)

    def value(self) -> str:
        """The `fragment_classes` chosen: "edge" or "edge+centre"."""
        return CENTRE if self.centres.isChecked() else EDGE


def start_split_note(start_fragments: object, fragment_classes: str) -> tuple[str, bool]:
    """The Model page's line for a checkpoint start on outlined fragments: what becomes of the start's split
    with the Data page's choice. Returns (html, True when the start's rock_centre would be dropped)."""
    start_centre = splits_by_centres(start_fragments)
    if start_centre and fragment_classes != CENTRE:
        return (
            "<span style='color:#8a5a00'>! The model you start from splits touching rocks by their "
            "<b>centres</b> (4 classes); on the Data page you chose <b>edges</b> (3 classes): the new model "
            "drops rock_centre and splits by edges. To keep the centres, choose “edges + centres”.</span>",
            True,
        )
    if start_centre:
        return (
            "Touching rocks are split by centres, as by the model you start from: its 4 classes are kept.",
            False,
        )
    if fragment_classes == CENTRE:
        if not isinstance(start_fragments, dict):
            was = "is no fragment model"
        else:
            was = "splits touching rocks by " + ("edges" if start_fragments.get("edge") else "distance")
        return (
            f"The model you start from {was}; your data add rock_centre: it starts untrained (a new "
            "row of the last layer) and learns from your outlines, and the new model splits by centres.",
            False,
        )
    return "", False


class StartSplitNote(QWidget):
    """The Model page's row under the network: `start_split_note` for a checkpoint start on outlined fragments,
    and, when the start's rock_centre would be dropped, a button that keeps it (`keep_centres()`: back to the
    Data page with "edges + centres" chosen, where the data are checked again with the 4 classes)."""

    def __init__(self, keep_centres, parent=None) -> None:
        super().__init__(parent)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.keep_btn = QPushButton("Keep the centres (4 classes)")
        self.keep_btn.setToolTip("back to the Data page with “edges + centres” chosen")
        self.keep_btn.clicked.connect(keep_centres)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.note, 1)
        row.addWidget(self.keep_btn)
        self.show_for(None, EDGE, outlines=False, from_ckpt=False)

    def show_for(
        self, start_fragments: object, fragment_classes: str, *, outlines: bool, from_ckpt: bool
    ) -> None:
        """Update for the current start and data: hidden unless a checkpoint start on outlined fragments with
        something to say."""
        text, drops = (
            start_split_note(start_fragments, fragment_classes) if outlines and from_ckpt else ("", False)
        )
        self.note.setText(text)
        self.keep_btn.setVisible(drops)
        self.setVisible(bool(text))
