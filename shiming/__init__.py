"""Composition root: configuration, CLI, worker wiring and the development supervisor."""
