"""The training wizard (Data → Model → Schedule → Training → Results) and its main-window hub."""

from __future__ import annotations

from segtool.gui.wizard.hub import TrainingHub
from segtool.gui.wizard.wizard import TrainingWizard

__all__ = ["TrainingHub", "TrainingWizard"]
