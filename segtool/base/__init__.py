"""The bottom layer every other layer may import: plain standard-library code, no torch, no numpy.

- `errors`: the typed errors and what they mean to the command line (`UserInputError` → exit 2);
- `atomic`: the one atomic file write (temporary name that always fits, fsync, rename);
- `paths`: where segtool keeps its caches.
"""
