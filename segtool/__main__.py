"""`python -m segtool` is the same as the `segtool` command."""

from segtool.cli import main

raise SystemExit(main())
