"""SOURCE arguments → the list of sources of a batch, each with a unique output name.

Used by `segtool predict` and meant for every multi-source command (`segtool fragments` too):

    sources, batch = expand_sources(["clips/", "extra/*.mp4", "@more.txt", "cam:0"])
    for item in sources:            # BatchItem(source="clips/a.mp4", name="a")
        ...                         # writes OUT/<item.name>/

Forms (docs/batch.md "What SOURCE can be"):
- a file (image or video), `cam:N` or a stream URL: one source, as given;
- a folder: each video file in it is one source; its images (if any) together are one more source
  (a folder holding only images is one source, exactly as a single-source predict reads it);
- a glob (`*`, `?`, `[`; `**` recurses): every match, each expanded as above;
- `@list.txt`: one SOURCE per line (blank lines and `#` comments skipped; relative paths are relative
  to the list file's folder), each expanded as above.
"""

from __future__ import annotations

import glob
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from segtool.core.errors import UserInputError
from segtool.core.sources.images import IMAGE_EXTENSIONS, natural_key

# Containers PyAV/FFmpeg reads that users actually bring (GoPro .mp4/.mov, phone .mov, IP-camera
# .mkv/.ts/.avi, exported .webm). A folder's other files are not guessed at.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".avi",
    ".webm",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".wmv",
    ".flv",
    ".3gp",
)

_GLOB = re.compile(r"[*?\[]")
_LIVE = re.compile(r"(cam:|[a-zA-Z][a-zA-Z0-9+.-]*://)", re.IGNORECASE)


@dataclass(frozen=True)
class BatchItem:
    """One source of a batch.

    Attributes:
        source: what `open_source` takes (a path string, `cam:N` or a URL).
        name: the output subfolder, `OUT/<name>/`; unique in the batch (case-insensitively).
    """

    source: str
    name: str


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _folder(path: Path) -> list[str]:
    entries = sorted((p for p in path.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
    videos = [os.path.abspath(p) for p in entries if is_video_file(p)]
    has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entries)
    if not videos and not has_images:
        raise UserInputError(
            f"folder {str(path)!r} holds no videos ({' '.join(VIDEO_EXTENSIONS[:6])} …) and no images "
            f"({' '.join(IMAGE_EXTENSIONS)}); top level only, subfolders are not searched — use a glob like "
            f"'{path}/**/*.mp4' for those"
        )
    return videos + ([os.path.abspath(path)] if has_images else [])


def implies_batch(spec: str) -> bool:
    """True when one SOURCE argument names a batch by its form: `@list.txt`, a glob that is not an
    existing path, or a folder holding video files. Anything else keeps the single-source layout."""
    text = spec.strip()
    if text.startswith("@"):
        return True
    if _LIVE.match(text):
        return False
    path = Path(text).expanduser()
    if path.is_dir():
        try:
            return any(p.is_file() and is_video_file(p) for p in path.iterdir())
        except OSError:
            return False
    return not path.exists() and bool(_GLOB.search(text))


def _one(spec: str, base: Path | None, depth: int) -> tuple[list[str], bool]:
    """Expand one argument. Returns (source specs, whether the form implies a batch)."""
    text = spec.strip()
    if not text:
        raise UserInputError("a SOURCE is empty; give a file, folder, glob, cam:N, URL or @list.txt")
    if text.startswith("@"):
        if depth > 0:
            raise UserInputError(
                f"{text!r} inside a list file: lists cannot include other lists; inline its lines"
            )
        return _list_file(
            Path(text[1:]).expanduser() if base is None else base / Path(text[1:]).expanduser()
        ), True
    if _LIVE.match(text):
        return [text], False
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if path.is_dir():
        found = _folder(path)
        return found, any(is_video_file(f) for f in found)
    if path.exists():
        return [os.path.abspath(path)], False
    if _GLOB.search(text):
        matches = sorted(glob.glob(str(path), recursive=True), key=natural_key)
        if not matches:
            raise UserInputError(
                f"glob {text!r} matches nothing; check the pattern (quote it so the shell leaves it alone)"
            )
        out: list[str] = []
        for m in matches:
            mp = Path(m)
            if mp.is_dir():
                out += _folder(mp)
            elif mp.is_file():
                out.append(os.path.abspath(m))
        return out, True
    hint = f" (for camera {text} write cam:{text})" if text.isdigit() else ""
    raise UserInputError(
        f"SOURCE {text!r} does not exist{hint}; give a file, folder, glob, cam:N, URL or @list.txt"
    )


def _list_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(
            encoding="utf-8-sig"
        ).splitlines()  # utf-8-sig: Windows Notepad starts files with a BOM
    except OSError as e:
        raise UserInputError(
            f"cannot read source list {str(path)!r} ({e.strerror or e}); give @FILE with one SOURCE per line"
        ) from e
    except UnicodeDecodeError as e:
        raise UserInputError(
            f"source list {str(path)!r} is not UTF-8 text; give @FILE with one SOURCE per line"
        ) from e
    out: list[str] = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out += _one(line, path.parent, 1)[0]
        except UserInputError as e:
            raise UserInputError(f"{path}:{n}: {e}") from e
    if not out:
        raise UserInputError(f"source list {str(path)!r} names no sources; write one SOURCE per line")
    return out


def _identity(spec: str) -> str:
    return spec if _LIVE.match(spec) else os.path.normcase(os.path.realpath(spec))


def _base_name(spec: str) -> str:
    m = re.match(r"cam:(\d+)$", spec, re.IGNORECASE)
    if m:
        return f"cam{m.group(1)}"
    if _LIVE.match(spec):
        rest = spec.split("://", 1)[1]
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("._") or "stream"
        return name[:80]
    p = Path(spec)
    name = p.name if p.is_dir() else p.stem
    name = re.sub(r"[^\w.-]+", "_", name).strip("._") or "source"  # \w keeps accented letters
    return name[:120]


def unique_names(specs: Sequence[str]) -> list[str]:
    """Output names for `specs`, in order: the file stem; sources sharing a stem get their extension
    (`clip_mp4`, `clip_mkv`), and any still equal get `-2`, `-3` … in list order. Case-insensitive, so
    the names stay distinct on macOS and Windows file systems too. Deterministic: the same list gives
    the same names on every machine and every run (shards and --resume rely on it)."""
    base = [_base_name(s) for s in specs]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, b in enumerate(base):
        groups[b.lower()].append(i)
    names = list(base)
    for idx in groups.values():
        if len(idx) > 1:
            for i in idx:
                ext = Path(specs[i]).suffix.lstrip(".")
                if ext and not _LIVE.match(specs[i]) and not Path(specs[i]).is_dir():
                    names[i] = f"{base[i]}_{ext}"
    taken: dict[str, int] = {}
    for i, n in enumerate(names):
        key = n.lower()
        if key in taken:
            k = 2
            while f"{key}-{k}" in taken:
                k += 1
            names[i] = f"{n}-{k}"
            key = names[i].lower()
        taken[key] = i
    return names


def expand_sources(specs: Sequence[str]) -> tuple[list[BatchItem], bool]:
    """Expand SOURCE arguments into the batch's sources.

    Args:
        specs: the SOURCE arguments as typed (files, folders, globs, `@list.txt`, `cam:N`, URLs).

    Returns:
        (items, is_batch). `is_batch` is True with more than one source, or when a form that can name
        many (a glob, a list, a folder of videos) was used — then outputs go to `OUT/<name>/` and
        `OUT/batch.json`; False keeps the single-source layout (`OUT/` directly). A source named twice
        (the same file through two arguments) is kept once.

    Raises:
        UserInputError: a path that does not exist, a glob that matches nothing, an unreadable or
            empty list, a folder with neither videos nor images. Nothing has run yet then.
    """
    if not specs:
        raise UserInputError("no SOURCE given; give a file, folder, glob, cam:N, URL or @list.txt")
    found: list[str] = []
    batch = len(specs) > 1
    for spec in specs:
        srcs, many = _one(str(spec), None, 0)
        found += srcs
        batch = batch or many
    seen: set[str] = set()
    unique: list[str] = []
    for s in found:
        key = _identity(s)
        if key not in seen:
            seen.add(key)
            unique.append(s)
    batch = batch or len(unique) > 1
    names = unique_names(unique)
    return [BatchItem(s, n) for s, n in zip(unique, names)], batch
