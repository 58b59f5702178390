"""CLI subcommands. Each module has `add_parser(subparsers)` (which sets `run`) and `run(args) -> int`.
Heavy imports (torch, Qt) happen inside `run`, so `segtool --help` stays fast."""

from segtool.commands import (
    batch_status,
    demo,
    eval,
    gui,
    import_weights,
    info,
    labels,
    predict,
    suggest,
    train,
)

COMMANDS = (gui, predict, batch_status, train, eval, info, import_weights, demo, suggest, labels)
