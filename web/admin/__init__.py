"""Administrators: every process, its history in business words, cancel and retry (ADM-1, ADM-2)."""
