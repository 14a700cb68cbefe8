"""Virtual smart cards for vpcd: they live in benchmarks/virtual_devices.py (the face benchmark
inserts an ID card too); the tests import them from here."""
from benchmarks.virtual_devices import (
    ATR,
    GET_ATR,
    POWER_OFF,
    POWER_ON,
    RESET,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS,
    SW_END_OF_FILE,
    SW_FILE_NOT_FOUND,
    SW_INS_NOT_SUPPORTED,
    SW_OK,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    VirtualCard,
    VirtualIdCard,
    VirtualUsbKey,
)

__all__ = ["ATR", "GET_ATR", "POWER_OFF", "POWER_ON", "RESET", "SW_CLA_NOT_SUPPORTED", "SW_CONDITIONS", "SW_END_OF_FILE", "SW_FILE_NOT_FOUND", "SW_INS_NOT_SUPPORTED", "SW_OK", "SW_WRONG_LENGTH", "SW_WRONG_P1P2", "VirtualCard", "VirtualIdCard", "VirtualUsbKey"]
