"""``python -m services.projector`` runs ``twin-projector``."""

import sys

from services.projector.main import main

sys.exit(main())
