"""``python -m benchbench.cli``: the same as the ``benchbench`` command."""

from __future__ import annotations

import sys

from benchbench.cli import main

sys.exit(main())
