"""Image, plate-folder and plate-layout input (no Qt)."""
