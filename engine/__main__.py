"""``python -m engine`` is ``plateau-train``."""

import sys

from engine.cli import main

sys.exit(main())
