"""``python -m stableprefix.benchmark``."""

import sys

from . import main

sys.exit(main())
