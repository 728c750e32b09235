"""``python -m trio_backend`` runs the ``sansio-registry`` command line."""

import sys

from trio_backend.cli import main

sys.exit(main())
