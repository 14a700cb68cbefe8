from . import routes, accounts  # noqa: F401 - the blueprint, then the wage account pages (PAY-2) on it
