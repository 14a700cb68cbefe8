"""The payroll specialist's blueprint (`payroll`), one module per concern: routes (the blueprint, the
list of runs, opening a month, the security password), run_page (one run), downloads (its files),
steps (its signed steps), batches (a batch's lines as sent), accounts (the wage account pages, PAY-2)."""
from . import routes, run_page, downloads, steps, batches, accounts  # noqa: F401 - the blueprint, then the views on it
