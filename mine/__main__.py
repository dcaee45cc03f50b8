"""`python -m mine`: see mine.cli."""

import sys

from mine.cli import main

sys.exit(main())
