"""Subcommands of the ``il6assay`` command line: one module per command (`napari_il6assay.cli`)."""
