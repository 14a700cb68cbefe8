"""PC/SC plumbing shared by the ID card reader and the USB key: pick a reader, connect, exchange APDUs.

Blocking calls through pyscard (the PC/SC service is pcscd on Linux, WinSCard on Windows). Every
PC/SC failure becomes one `PcscFailure` with a `kind` the device modules translate into their
own refusal codes:

    no_reader         the PC/SC service is not running, or no reader is connected
    reader_not_found  the reader named in the configuration is not connected
    no_card           no card on the reader(s) asked
    card_removed      the card went away during the exchange
    failed            any other PC/SC error (detail says which)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException, NoCardException, SmartcardException
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.scard import (
    SCARD_E_NO_SMARTCARD,
    SCARD_E_NOT_TRANSACTED,
    SCARD_E_READER_UNAVAILABLE,
    SCARD_F_COMM_ERROR,
    SCARD_S_SUCCESS,
    SCARD_W_REMOVED_CARD,
    SCARD_W_RESET_CARD,
    SCARD_W_UNPOWERED_CARD,
    SCARD_W_UNRESPONSIVE_CARD,
)
from smartcard.System import readers as list_readers

SW_OK = 0x9000

_GONE = {SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD, SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD,
         SCARD_W_UNRESPONSIVE_CARD, SCARD_E_READER_UNAVAILABLE, SCARD_F_COMM_ERROR, SCARD_E_NOT_TRANSACTED}


def _release(connection: CardConnection) -> None:
    """Disconnect and free the connection's PC/SC context now, not in a destructor that may run
    after the service is gone."""
    try:
        connection.release()
    except SmartcardException:
        pass  # the card or the service is gone already; nothing is left to release


class PcscFailure(Exception):
    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


def _hresult(exc: SmartcardException) -> int:
    value = getattr(exc, "hresult", -1)
    return value & 0xFFFFFFFF if value is not None and value != -1 else -1


def reader_names() -> list[str]:
    """The connected readers' names; PcscFailure(no_reader) when the PC/SC service is not running."""
    try:
        return [str(r) for r in list_readers()]
    except (SmartcardException, BaseSCardException) as exc:
        raise PcscFailure("no_reader", f"PC/SC service unavailable: {exc}") from None


@dataclass
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK


class Channel:
    """A connection to the card on one reader; use as a context manager (disconnects on exit)."""

    def __init__(self, reader_name: str, connection: CardConnection):
        self.reader_name = reader_name
        self._connection = connection

    def transmit(self, apdu: bytes) -> Response:
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except CardConnectionException as exc:
            # A card pulled from a real reader gives SCARD_W_REMOVED_CARD; a card that stops
            # answering mid-exchange gives "success" with no status word at all (vpcd does that).
            if _hresult(exc) in _GONE or _hresult(exc) == SCARD_S_SUCCESS:
                raise PcscFailure("card_removed", str(exc)) from None
            raise PcscFailure("failed", str(exc)) from None
        return Response(bytes(data), (sw1 << 8) | sw2)

    def close(self) -> None:
        _release(self._connection)

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _candidates(reader_name: Optional[str]) -> Iterator:
    try:
        found = list_readers()
    except (SmartcardException, BaseSCardException) as exc:
        raise PcscFailure("no_reader", f"PC/SC service unavailable: {exc}") from None
    if not found:
        raise PcscFailure("no_reader")
    if reader_name is None:
        yield from found
        return
    named = [r for r in found if str(r) == reader_name] or [r for r in found if str(r).startswith(reader_name)]
    if not named:
        raise PcscFailure("reader_not_found", reader_name)
    yield from named


def channels(reader_name: Optional[str] = None) -> Iterator[Channel]:
    """A channel to each card in turn: on `reader_name` (the exact name, else the readers whose
    names start with it), or with no name on every reader that has a card. The caller closes each
    channel; nothing is yielded when no reader asked has a card."""
    for reader in _candidates(reader_name):
        connection = reader.createConnection()
        try:
            connection.connect()
        except NoCardException:
            _release(connection)
            continue
        except CardConnectionException as exc:
            _release(connection)
            if _hresult(exc) in _GONE:
                continue
            raise PcscFailure("failed", str(exc)) from None
        yield Channel(str(reader), connection)
