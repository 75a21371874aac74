"""Segmentation and measurement of wells, spheroids and spheres (no Qt)."""
