"""Errors of the application core.

- `UserInputError` (from models.errors): bad input; CLI exit code 2.
- `SourceInterrupted`: a source broke after some frames were delivered (truncated video, camera
  unplugged, stream gone after its reconnects). What was exported before is valid; CLI exit code 1.
"""

from __future__ import annotations

from segtool.base.errors import UserInputError

__all__ = ["UserInputError", "SourceInterrupted"]


class SourceInterrupted(RuntimeError):
    """The source stopped delivering frames mid-way.

    Attributes:
        last_index: index of the last frame delivered (-1 if none).
    """

    def __init__(self, message: str, last_index: int = -1):
        super().__init__(message)
        self.last_index = last_index
