"""The private pcscd + vpcd of the PC/SC tests: it lives in benchmarks/virtual_devices.py (the face
benchmark drives it too); the tests import it from here."""
from benchmarks.virtual_devices import (
    PID_FILE,
    READER,
    RUN_DIR,
    SLOT_0,
    SLOT_1,
    SOCKET,
    VPCD_DRIVER,
    Pcscd,
    PcscdError,
    free_port_pair,
    other_pcscd,
    wait_card_state,
)

__all__ = ["PID_FILE", "READER", "RUN_DIR", "SLOT_0", "SLOT_1", "SOCKET", "VPCD_DRIVER", "Pcscd", "PcscdError", "free_port_pair", "other_pcscd", "wait_card_state"]
