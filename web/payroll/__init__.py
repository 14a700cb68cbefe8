from . import routes, accounts, batches  # noqa: F401 - the blueprint, then the wage account (PAY-2) and batch pages on it
