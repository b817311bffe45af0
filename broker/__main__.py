"""``python -m broker`` is the ``josef`` command."""

import sys

from broker.cli import main

sys.exit(main())
