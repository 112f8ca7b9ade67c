"""``python -m frontend.cli``: the ``kiln`` command without the console script."""
import sys

from frontend.cli.main import main

sys.exit(main())
