"""``python -m reward_judge.integrations.cli``: the ``reward-judge`` command."""

import sys

from . import main

sys.exit(main())
