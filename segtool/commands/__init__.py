"""CLI subcommands. Each module has `add_parser(subparsers)` (which sets `run`) and `run(args) -> int`.
Heavy imports (torch, Qt) happen inside `run`, so `segtool --help` stays fast."""

from segtool.commands import (
    batch_status,
    demo,
    eval,
    export_onnx,
    fragments,
    gui,
    import_weights,
    info,
    labels,
    predict,
    propagate,
    report,
    suggest,
    train,
)

COMMANDS = (
    gui,
    predict,
    batch_status,
    train,
    eval,
    fragments,
    report,
    info,
    import_weights,
    export_onnx,
    demo,
    suggest,
    labels,
    propagate,
)
