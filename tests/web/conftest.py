"""Web fixtures: the app with a fake Temporal bridge over a copy of a seeded database, and
the wage scenario (`platform`)
(tests/helpers/web_app.py, where the browser tests of tests/e2e and tests/devices take them too)."""
from tests.helpers.web_app import _seeded_template, app, bridge, client, csrf_app, platform, services  # noqa: F401 - fixtures
