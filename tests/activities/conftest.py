"""Activity fixtures: a home prepared once per module with the wage scenario (tests/helpers/wage_scenario.py),
copied for each test or hypothesis example with `tests.helpers.services.copy_services`."""
from __future__ import annotations

import pytest

from tests.helpers.services import make_services
from tests.helpers.wage_scenario import TEMPLATE_WORKERS, wage_scenario


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A migrated, seeded home with TEMPLATE_WORKERS workers, a bound wage account and two payroll specialists."""
    home = tmp_path_factory.mktemp("wage-template")
    services = make_services(home)
    wage_scenario(services, workers=TEMPLATE_WORKERS)
    services.engine.dispose()
    return home
