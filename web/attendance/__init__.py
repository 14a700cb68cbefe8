"""The attendance blueprint (`attendance`), one module per concern: routes (the blueprint), statistics
(a month's and a day's figures, the report, the photo gallery), corrections (补卡), flags (BEY-9)."""
from . import routes, statistics, corrections, flags  # noqa: F401 - the blueprint, then the views on it
