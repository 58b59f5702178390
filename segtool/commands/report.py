"""`segtool report OUT`: OUT/report.pdf from a `segtool fragments` output folder (docs/fragments.md)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="PDF report of a fragments run: curves, D-values, places, map, thumbnails",
        description="Write OUT/report.pdf from the output folder OUT of `segtool fragments`: title page (site, dates, "
        "model and its measured accuracy, scale, settings), passing curves with D-values and Rosin–Rammler / Swebrec "
        "fits, a table per place, a map of the places coloured by D50 (offline, no tiles), D50/D80 over time for video, "
        "thumbnails with outlines, and what was not measured. See docs/fragments.md.",
        epilog="Exit codes: 0 written; 2 OUT is not a fragments output folder.",
    )
    p.add_argument("out", metavar="OUT", help="output folder of `segtool fragments` (its -o)")
    p.add_argument("--site", help="site name on the title page (default: OUT's folder name)")
    p.add_argument("--pdf", metavar="FILE", help="write the PDF here instead of OUT/report.pdf")
    p.add_argument(
        "--thumbnails", type=int, default=4, metavar="N", help="photos with outlines to show (0-4, default 4)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from segtool.base.errors import UserInputError
    from segtool.core.report import write_report

    if not 0 <= args.thumbnails <= 4:
        raise UserInputError(f"--thumbnails {args.thumbnails}: give 0 to 4 (one page holds four)")
    res = write_report(args.out, site=args.site, pdf=args.pdf, thumbnails=args.thumbnails)
    print(f"wrote {res.path} ({len(res.pages)} pages: {', '.join(res.pages)})")
    for n in res.notes:
        print(f"  note: {n}")
    return 0
