"""The payroll specialist's blueprint (`payroll`), one module per concern: routes (the blueprint, the
list of runs, opening a month, the security password), run_page (one run), downloads (its files),
steps (its signed steps), accounts (the wage account pages, PAY-2)."""
from . import routes, run_page, downloads, steps, accounts  # noqa: F401 - the blueprint, then the views on it
