"""Reading the resident ID card (ENR-2): the `CardReader` protocol and its PC/SC backend.

A `CardReader` gives the card's 256-byte identity text block; `read_identity` parses and checks it
with `domain.id_card.parse_text_block`. Any backend that can produce the block plugs in: the PC/SC
one here, or a vendor SDK (docs/devices.md, "Plugging in a vendor SDK").

The PC/SC exchange (docs/devices.md has the full table):

    SELECT EF 0101           00 A4 00 0C 02 01 01          9000 | 6A82 not an ID card
    READ BINARY offset, Le   00 B0 <off hi> <off lo> <Le>  data 9000 | 6282 end of file |
                                                           6B00 offset beyond the file | 6Cxx use Le=xx

The block is read in chunks of `chunk_size` bytes (default 128) until 256 bytes are in; a file
that ends early is a malformed block, a card that disappears is `card_removed`.
"""
from __future__ import annotations

from datetime import date
from typing import Optional, Protocol, runtime_checkable

from domain.id_card import BLOCK_SIZE, IdCardError, IdCardRefusal, IdentityRecord, parse_text_block

from .pcsc import PcscFailure, channels

IDENTITY_FILE_ID = 0x0101  # the identity text block
PHOTO_FILE_ID = 0x0102  # the encoded photo (wlt); not read: decoding it needs a licensed library
MAX_CHUNK = 0xFF  # short READ BINARY

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_OFFSET = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00


def select_file_apdu(file_id: int) -> bytes:
    return bytes([0x00, 0xA4, 0x00, 0x0C, 0x02, file_id >> 8, file_id & 0xFF])


def read_binary_apdu(offset: int, length: int) -> bytes:
    if not 0 <= offset <= 0x7FFF or not 1 <= length <= 0x100:
        raise ValueError("READ BINARY offset 0..32767, length 1..256")
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF])


@runtime_checkable
class CardReader(Protocol):
    """A source of the identity text block. Raises IdCardError for device problems
    (no_reader, reader_not_found, no_card, card_removed, not_an_id_card, read_failed)."""

    def read_text_block(self) -> bytes: ...


def read_identity(reader: CardReader, *, today: Optional[date] = None) -> IdentityRecord:
    """Read the card on `reader` and check it: the identity, or IdCardError."""
    return parse_text_block(reader.read_text_block(), today=today)


_FAILURES = {
    "no_reader": IdCardRefusal.NO_READER,
    "reader_not_found": IdCardRefusal.READER_NOT_FOUND,
    "no_card": IdCardRefusal.NO_CARD,
    "card_removed": IdCardRefusal.CARD_REMOVED,
    "failed": IdCardRefusal.READ_FAILED,
}


class PcscCardReader:
    """The identity block over PC/SC from the card on `reader_name` (None: the first reader with
    a card that has the identity file)."""

    def __init__(self, reader_name: Optional[str] = None, *, chunk_size: int = 0x80):
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError("chunk_size must be 1..255")
        self.reader_name = reader_name
        self.chunk_size = chunk_size

    def read_text_block(self) -> bytes:
        try:
            other_card = None
            for channel in channels(self.reader_name):
                with channel:
                    try:
                        return self._read(channel)
                    except IdCardError as exc:
                        if exc.code is not IdCardRefusal.NOT_AN_ID_CARD:
                            raise
                        other_card = exc  # maybe the USB key: try the next reader
            if other_card is not None:
                raise other_card
            raise PcscFailure("no_card")
        except PcscFailure as failure:
            raise IdCardError(_FAILURES[failure.kind], failure.detail) from None

    def _read(self, channel) -> bytes:
        r = channel.transmit(select_file_apdu(IDENTITY_FILE_ID))
        if r.sw in (SW_FILE_NOT_FOUND, SW_INS_NOT_SUPPORTED, SW_CLA_NOT_SUPPORTED):
            raise IdCardError(IdCardRefusal.NOT_AN_ID_CARD, f"SELECT answered {r.sw:04X}")
        if not r.ok:
            raise IdCardError(IdCardRefusal.READ_FAILED, f"SELECT answered {r.sw:04X}")
        block = bytearray()
        while len(block) < BLOCK_SIZE:
            want = min(self.chunk_size, BLOCK_SIZE - len(block))
            r = channel.transmit(read_binary_apdu(len(block), want))
            if r.sw >> 8 == 0x6C and r.sw & 0xFF:  # wrong Le: the card says how many it has
                r = channel.transmit(read_binary_apdu(len(block), r.sw & 0xFF))
            if r.sw in (SW_END_OF_FILE, SW_WRONG_OFFSET) or (r.ok and not r.data):
                block += r.data
                break  # the file ends before 256 bytes: parse_text_block refuses it as truncated
            if r.sw == SW_SECURITY:
                raise IdCardError(IdCardRefusal.READ_FAILED, "the card refuses to be read without a secure "
                                                             "module (6982): use the reader's vendor SDK backend")
            if not r.ok:
                raise IdCardError(IdCardRefusal.READ_FAILED, f"READ BINARY at {len(block)} answered {r.sw:04X}")
            if len(r.data) > want:
                raise IdCardError(IdCardRefusal.MALFORMED_BLOCK, f"card sent {len(r.data)} bytes for {want}")
            block += r.data
        return bytes(block)
