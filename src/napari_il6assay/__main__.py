"""``python -m napari_il6assay`` runs the ``il6assay`` command line."""

import sys

from napari_il6assay.cli import main

# guarded so that importing the module (pytest's doctest collection, documentation tools)
# does not run the command line
if __name__ == "__main__":
    sys.exit(main())
