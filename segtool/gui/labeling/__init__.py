"""Label mode: painting and correcting masks in the viewer (see hub.py)."""
