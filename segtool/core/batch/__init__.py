"""Batch export: many sources in one job (`segtool predict A B C…`, the app's export queue).

- `expand`: SOURCE arguments (files, folders, globs, @list.txt) → `BatchItem(source, name)`, unique names.
- `state`: `OUT/batch.json` (`BatchState`), shard selection, merging shard files.
- `runner`: one source → `OUT/<name>/` through `segtool.core.export.run_export`, ended as an `Outcome`.
- `local`: this process or N worker processes (one per GPU, or CPU threads divided).
- `ray_runner`: one Ray task per source (optional extra `segtool[cluster]`; imported only for --ray).

Another multi-source command (e.g. `segtool fragments`) reuses `expand_sources` for its SOURCE
arguments and `BatchState` for its batch.json; see docs/batch.md "For developers".
"""

from segtool.core.batch.expand import BatchItem, expand_sources, unique_names
from segtool.core.batch.state import BatchState, SourceState, merge_batches, parse_shard, select_shard

__all__ = [
    "BatchItem",
    "expand_sources",
    "unique_names",
    "BatchState",
    "SourceState",
    "merge_batches",
    "parse_shard",
    "select_shard",
]
