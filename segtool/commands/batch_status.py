"""`segtool batch-status OUT [OUT…]`: one report of a batch, merging its shards' batch files."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "batch-status",
        help="report a batch's sources (merges --shard runs)",
        description="Read OUT/batch.json and OUT/batch-I-of-N.json (the files --shard runs write) from each OUT "
        "and print one report: sources per state, what failed and why, shards that never reported. See docs/batch.md.",
        epilog="Exit codes: 0 every source complete and every shard reported; 1 otherwise; 2 no batch file found.",
    )
    p.add_argument(
        "out",
        nargs="+",
        metavar="OUT",
        help="the -o folder of a batch (or one batch file); several for shards on separate disks",
    )
    p.add_argument("--json", action="store_true", help="print the merged report as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="list every source, not only the problems")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from segtool.core.batch.state import find_batch_files, merge_batches

    report = merge_batches(find_batch_files(args.out))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0 if report["complete"] else 1
    c = report["counts"]
    known = len(report["sources"])
    print(
        f"{known} of {report['total_sources']} source(s) reported by {len(report['files'])} file(s); "
        + ", ".join(f"{n} {k}" for k, n in c.items() if n)
        + f"; {report['frames_written']} frame(s) written"
    )
    if len(report["fingerprints"]) > 1:
        print(
            "warning: these files come from batches with different source lists; give every shard the same SOURCE arguments",
            file=sys.stderr,
        )
    for s in report["sources"] if args.verbose else []:
        print(
            f"  {s['state']:<8} {s['name']}: {s.get('frames_written', 0)} frame(s), {s.get('seconds', 0):.1f} s -> {s['output']}"
        )
    for s in report["problems"]:
        print(f"  {s['state']}: {s['source']}: {s.get('message', '')}", file=sys.stderr)
    if report["missing_shards"]:
        print(
            f"  shard(s) {', '.join(report['missing_shards'])} wrote no batch file here: {report['missing']} source(s) unaccounted for",
            file=sys.stderr,
        )
    elif report["missing"]:
        print(f"  {report['missing']} source(s) unaccounted for", file=sys.stderr)
    if c["pending"] or c["running"]:
        print(
            f"  {c['pending']} pending and {c['running']} running (or stopped while running)", file=sys.stderr
        )
    print("complete" if report["complete"] else "not complete")
    return 0 if report["complete"] else 1
