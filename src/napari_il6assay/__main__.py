"""``python -m napari_il6assay`` runs the ``il6assay`` command line."""

import sys

from napari_il6assay.cli import main

sys.exit(main())
