"""``python -m services.cli`` runs the ``twin`` command."""

import sys

from services.cli import main

sys.exit(main())
