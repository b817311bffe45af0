"""``python -m broker`` is the ``josef`` command."""

import sys

from broker.entry import main

sys.exit(main())
