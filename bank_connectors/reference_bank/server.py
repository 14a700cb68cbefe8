"""`shiming bank`: the reference bank on Flask's threaded development server until SIGTERM or Ctrl-C."""
from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Iterable, Optional

from ..keys import PinnedBankKeys, write_public_key_file
from .app import EXTENSION, create_bank_app

log = logging.getLogger("shiming.bank")


def run_bank(home: Path, host: str = "127.0.0.1", port: int = 8700, callback_url: Optional[str] = None,
             exchange_dir: Optional[Path] = None, ledger: Optional[Path] = None,
             platform_keys: Iterable[str] = (), retry_cap: float = 5.0, pay_delay: float = 0.0,
             keys_out: Optional[Path] = None, key_id: Optional[str] = None) -> int:
    app = create_bank_app(home, callback_url, exchange_dir, ledger=ledger, platform_keys=platform_keys,
                          retry_cap=retry_cap, pay_delay=pay_delay)
    bank = app.extensions[EXTENSION]
    if keys_out is not None:
        # the public key file the operator gives the platform (SHIMING_BANK_KEYS_FILE): out of band
        write_public_key_file(keys_out, PinnedBankKeys.single(bank.keys.public(), key_id))

    def terminate(_signum, _frame):
        raise KeyboardInterrupt  # the server's loop ends on it; the finally below stops the workers

    previous = signal.signal(signal.SIGTERM, terminate)
    keys = bank.keys.public().to_dict()
    log.info("reference bank on http://%s:%d (home %s); signing key %s, encryption key %s; callback %s; "
             "exchange %s", host, port, Path(home).resolve(), keys["signing"], keys["encryption"],
             callback_url or "-", exchange_dir or "-")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        bank.stop()
    return 0
