"""Normalization, dose-response fits, fold resistance and combination scores (no Qt)."""
