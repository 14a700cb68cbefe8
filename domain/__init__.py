"""The core of shiming: models, pure rules, PII protection and the session factory.

Imported by every other package; imports none of them.
"""
