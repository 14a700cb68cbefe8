"""Web fixtures: the app with a fake Temporal bridge over a copy of a seeded database, and the wage
scenario (`platform`); defined in tests/helpers/web_app.py, where the browser tests of tests/e2e and
tests/devices take them too."""
from tests.helpers.web_app import _seeded_template, app, bridge, client, csrf_app, platform, services

__all__ = ["_seeded_template", "app", "bridge", "client", "csrf_app", "platform", "services"]  # the folder's fixtures
