"""``python -m bpnetkit`` runs the command line."""

import sys

from bpnetkit.cli.main import main

sys.exit(main())
