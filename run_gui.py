"""Open the segtool desktop app (same as `segtool gui`)."""

from segtool.gui.app import main

raise SystemExit(main())
