"""``python -m ikml_gym.cli``: the same as the ``ikml-gym`` command."""

import sys

from . import main

sys.exit(main())
