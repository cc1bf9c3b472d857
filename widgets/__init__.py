"""Embedded widgets and the console (Flask blueprints)."""
