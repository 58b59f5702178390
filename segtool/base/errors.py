"""Typed errors shared by every layer.

`UserInputError` means the user gave something we cannot use (a file, a flag value, a dataset).
Its message names the bad value and says what to do; the CLI prints it and exits with code 2.
It lives in `segtool.base`, the bottom layer that `segtool.models`, `segtool.training` and the app import.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad user input. The message names the bad value and the fix."""


class CheckpointError(UserInputError):
    """A file could not be used as a segtool checkpoint or state dict."""


class PretrainedWeightsUnavailable(UserInputError):
    """Pretrained weights could neither be downloaded nor found in a local file."""
