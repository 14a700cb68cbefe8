"""One device request = one transaction, run again when it met a concurrent one: shared by the
signed punch API (web/attendance_api) and the ZKTeco endpoints (web/iclock)."""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

log = logging.getLogger("shiming.web.device_retry")
T = TypeVar("T")

ATTEMPTS = 8
BACKOFF_CAP_S = 0.25  # the longest pause between two attempts (jittered: colliding requests drift apart)
MYSQL_RETRYABLE = (1205, 1213)  # lock wait timeout, deadlock: InnoDB rolled the transaction back


class StillColliding(Exception):
    """Every attempt met a concurrent transaction: nothing was committed; the device sends again."""


def transient(exc: Exception) -> bool:
    """A failure that running the request again from the start resolves: a unique constraint met by
    a concurrent insert of the same (device, seq) or nonce, SQLite's busy snapshot, an InnoDB deadlock."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        orig = getattr(exc, "orig", None)
        code = orig.args[0] if orig is not None and orig.args else None
        return "database is locked" in str(orig) or code in MYSQL_RETRYABLE
    return False


def run_retrying(work: Callable[[], T], what: str) -> T:
    """`work()` (one whole transaction), again after a jittered pause while it meets concurrent
    transactions; raises StillColliding once ATTEMPTS have failed so."""
    for attempt in range(ATTEMPTS):
        try:
            return work()
        except (IntegrityError, OperationalError) as exc:
            if not transient(exc):
                raise
            if attempt == ATTEMPTS - 1:
                log.warning("%s met concurrent transactions %d times; the device is asked to send again", what,
                            ATTEMPTS)
                raise StillColliding(what) from exc
            log.info("%s met a concurrent transaction (%s), attempt %d", what, type(exc).__name__, attempt + 1)
            time.sleep(random.uniform(0, min(BACKOFF_CAP_S, 0.01 * 2 ** attempt)))
    raise AssertionError("unreachable")
