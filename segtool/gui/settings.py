"""Settings that persist between runs (last folders, recent files, view, device, window geometry)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def default_settings() -> QSettings:
    """The user's settings file (~/.config/segtool/segtool.conf on Linux)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "segtool", "segtool")


def ini_settings(path: str | Path) -> QSettings:
    """Settings stored in a given file (tests, screenshots)."""
    return QSettings(str(path), QSettings.Format.IniFormat)


class AppSettings:
    """Typed access to the app's settings."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else default_settings()

    def get(self, key: str, default, kind: type = str):
        v = self.store.value(key, default)
        try:
            if kind is bool:
                return v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
            return kind(v)
        except (TypeError, ValueError):
            return default

    def set(self, key: str, value) -> None:
        self.store.setValue(key, value)

    def recent(self, key: str) -> list[str]:
        v = self.store.value(key, [])
        if isinstance(v, str):  # QSettings returns a lone string for one-item lists
            v = [v]
        return [str(x) for x in (v or [])]

    def push_recent(self, key: str, item: str) -> list[str]:
        items = [item] + [x for x in self.recent(key) if x != item]
        self.store.setValue(key, items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def sync(self) -> None:
        self.store.sync()
