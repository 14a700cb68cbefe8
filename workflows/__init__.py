"""Temporal workflow definitions: deterministic, no I/O, one process per module."""
