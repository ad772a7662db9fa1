"""``python -m stableprefix.diagnostics log.jsonl``."""

from ._cli import main

raise SystemExit(main())
