"""Batch processing of plate folders and exports (no Qt)."""
