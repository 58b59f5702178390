"""Dataset importers, validation, transforms, trainer and metrics. Imports `models`; never `segtool` or Qt."""
