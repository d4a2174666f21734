"""``python -m epochal demo`` runs the same command as ``epochal demo``."""

import sys

from epochal.cli import main

sys.exit(main())
