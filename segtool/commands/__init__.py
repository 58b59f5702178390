"""CLI subcommands. Each module has `add_parser(subparsers)` (which sets `run`) and `run(args) -> int`.
Heavy imports (torch, Qt) happen inside `run`, so `segtool --help` stays fast."""

from segtool.commands import demo, eval, fragments, gui, import_weights, info, predict, train

COMMANDS = (gui, predict, train, eval, fragments, info, import_weights, demo)
