"""``python -m channels.fakes NAME [options]``: see :mod:`channels.fakes.serve`."""

import sys

from channels.fakes.serve import main

sys.exit(main())
