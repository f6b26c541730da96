"""Kesu 客诉: customer complaint management and analysis."""
