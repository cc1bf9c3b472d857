"""Sync orchestration: cursors, incremental pulls, identity resolution, write-back."""
