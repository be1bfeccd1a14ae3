"""``python -m srstream`` is the same as the ``sr-stream`` console script."""

import sys

from srstream.cli import main

sys.exit(main())
