"""Synthetic plate images and experiments with exact ground truth (seeded, deterministic)."""
