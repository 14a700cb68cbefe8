"""Enrolment pages (ENR-1…7): the labour specialist enrols a worker on a project and follows the case.
Blueprint `enrolment`, one module per concern: routes (the blueprint, who may enrol, the list of
cases), agent (the device agent's messages), new (the enrolment record, the process started), case
(a case's page and its updates)."""
from . import routes, agent, new, case  # noqa: F401 - the blueprint, then the views on it
