"""Label mode's label-set actions: new, open, import from and export to CVAT (a mixin of `LabelHub`,
kept apart so each file stays readable)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from segtool.base.errors import UserInputError
from segtool.core.labelset import LabelSet, export_cvat, import_cvat
from segtool.models.classes import default_colors


def default_label_folder(source) -> Path:
    """Where the first save proposes the label set, for the viewer's `SourceInfo` (see
    `LabelSetActions.default_folder`)."""
    if source is None or "://" in source.spec or source.spec.lower().startswith("cam:"):
        return Path.home() / "segtool_labels"
    p = Path(source.spec)
    if p.is_dir():
        return p.parent / f"{p.name}_labels"
    if source.kind == "image" and p.parent.name:
        return p.parent.parent / f"{p.parent.name}_labels"
    return p.parent / f"{p.stem}_labels"


class LabelSetActions:
    """New / open / import / export of label sets; mixed into `LabelHub` (uses its window, panel, state)."""

    def new_label_set(self, folder: str | Path, names: list[str] | None = None) -> LabelSet:
        """Create (or reopen) a label set with the model's classes, or `names`."""
        if names is None:
            names = self.class_names
            palette = self.palette
            colors = palette.tolist() if palette is not None else default_colors(len(names))
        else:
            colors = default_colors(len(names))
        if len(names) < 2:
            raise UserInputError("a label set needs at least two classes (e.g. background, rock)")
        ls = LabelSet.create(
            folder,
            [{"name": n, "color": list(c)} for n, c in zip(names, colors)],
            fragments=self.model_fragments(),
        )
        self._use_label_set(ls)
        return ls

    def open_label_set(self, folder: str | Path) -> LabelSet:
        ls = LabelSet.open(folder)
        self._use_label_set(ls)
        return ls

    def _use_label_set(self, ls: LabelSet) -> None:
        model = self.window.engine_info
        if model is not None and list(model.class_names) != ls.class_names:
            self.window.statusBar().showMessage(
                f"The label set's classes ({', '.join(ls.class_names)}) differ from the model's "
                f'({", ".join(model.class_names)}): "Start from the prediction" is off',
                10000,
            )
        self.labelset = ls
        self._use_label_set_text()
        if ls.incomplete:  # said once, loudly: training and export refuse this set until it is imported again
            self.window.show_error("Unfinished label set", ls.incomplete)
        cls = self.cls
        self._show_classes()  # (selects the first object class)
        ids = self.panel.class_ids()
        if cls in ids:
            self.panel.classes.setCurrentRow(ids.index(cls))  # the class the user was painting stays chosen
        if self.active and self.result is not None and self._keep_unsaved_edits(ls):
            self.key = self.frame_key(self.result)[:2]  # the same frame, now under the set's own name
            self._redraw()
            self._update_state()
            return
        self.key = None  # reload the frame's labels from the set
        if self.active and self.result is not None:
            self.on_result(self.result)

    def _keep_unsaved_edits(self, ls: LabelSet) -> bool:
        """The frame on screen has unsaved strokes (painted before any set was open: the first save asks
        for a folder in the middle of saving): keep them, unless the user prefers labels the set already
        holds for this frame. Reloading blindly here lost the first strokes (issue 19)."""
        ed = self.editor
        if ed is None or not ed.dirty:
            return False
        path, _, index = self.frame_key(self.result)
        if ls.find(path, index) is None or ls.load_mask(ls.stem_for(path, index)) is None:
            return True
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Labels for this frame already exist",
            f"{ls.root.name} already holds labels for this frame, and the frame on screen has "
            "labels that are not saved.",
            parent=self.window,
        )
        mine = box.addButton(
            "Keep mine (replace the saved ones when saved)", QMessageBox.ButtonRole.AcceptRole
        )
        box.addButton("Load the saved ones (drop mine)", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(mine)
        box.exec()
        return box.clickedButton() is mine

    def default_folder(self) -> Path:
        """Beside the footage, never inside a photo folder (the set would then sit among the photos it
        labels): a folder of photos `gravel/` → `gravel_labels/` next to it; one photo `gravel/a.jpg` →
        `gravel_labels/` too (its folder's set: labelling goes on photo by photo); a video
        `clips/day1.mp4` → `clips/day1_labels/`."""
        return default_label_folder(self.window.source)

    def choose_new_label_set(self) -> None:
        if (
            self.labelset is not None and not self.confirm_leave()
        ):  # the frame's edits go to the set they were made in
            return
        folder, _ = QFileDialog.getSaveFileName(
            self.window,
            "New label set: name its folder",
            str(self.default_folder()),
            "Label-set folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not folder:
            return
        names = None
        if not self.class_names:
            text, ok = QInputDialog.getText(
                self.window, "Classes", "Class names, comma separated:", text="background, rock"
            )
            if not ok:
                return
            names = [n.strip() for n in text.split(",") if n.strip()]
        try:
            self.new_label_set(folder, names)
        except UserInputError as e:
            self.window.show_error("Could not create the label set", str(e))

    def choose_open_label_set(self) -> None:
        if self.labelset is not None and not self.confirm_leave():
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Open label set", str(Path.home()))
        if folder:
            try:
                self.open_label_set(folder)
            except UserInputError as e:
                self.window.show_error("Could not open the label set", str(e))

    def choose_import_cvat(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "CVAT export (Segmentation mask 1.1)",
            str(Path.home()),
            "CVAT export (*.zip);;All files (*)",
        )
        if not path:
            return
        images = QFileDialog.getExistingDirectory(
            self.window, "The photos of that export (Cancel if it holds them)", str(Path(path).parent)
        )
        folder = QFileDialog.getExistingDirectory(self.window, "New label set folder", str(Path(path).parent))
        if not folder:
            return
        try:
            self._use_label_set(import_cvat(path, images or None, folder))
        except UserInputError as e:
            self.window.show_error("Could not import the CVAT export", str(e))

    def choose_export_cvat(self) -> None:
        if self.labelset is None:
            self.window.show_error(
                "No label set", "Create or open a label set first (Label ▸ New label set…)."
            )
            return
        self.save()
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export to CVAT", str(self.labelset.root.with_suffix(".zip")), "Zip (*.zip)"
        )
        if path:
            try:
                export_cvat(self.labelset, path)
                self.window.statusBar().showMessage(
                    f"Exported to {path} — import it in CVAT as 'Segmentation mask 1.1'", 10000
                )
            except UserInputError as e:
                self.window.show_error("Could not export", str(e))
