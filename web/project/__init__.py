"""Project and enterprise accounts: the projects in their scope (blueprint `project`, one module per
concern: routes — the blueprint, the projects, the workers and their exit; card — a worker's payroll
card replaced; roster — the roster import)."""
from . import routes, card, roster  # noqa: F401 - the blueprint, then the views on it
