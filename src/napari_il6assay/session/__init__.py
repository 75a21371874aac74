"""What a person did to an opened batch run, kept apart from the widgets (no Qt here).

- `napari_il6assay.session.results`: a batch output folder read back (`Results`), and where
  each well's image and labels are.
- `napari_il6assay.session.exclusions`: excluded wells with reasons (`ExclusionSession`),
  saved as ``exclusions.csv`` of the results folder.
- `napari_il6assay.session.doseresponse`: the dose–response panel's state
  (`DoseResponseSession`): exclusions, corrections, current tables and the refit.

The napari widgets compose these objects; scripts and tests use them without a display.
"""
