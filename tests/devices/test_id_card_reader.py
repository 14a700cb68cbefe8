"""Reading the resident ID card through the real PC/SC stack: pcscd + vpcd + a virtual card."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.id_card_reader import IDENTITY_FILE_ID, CardReader, PcscCardReader, read_identity
from domain.id_card import IdCardError, IdCardRefusal, encode_text_block
from domain.usb_key import UsbKeyRefusal
from tests.helpers.virtual_card import VirtualIdCard, VirtualUsbKey
from tests.helpers.identities import SAMPLE, TODAY, block_of, expired
from tests.helpers.pcsc import SLOT_0

ROOT = Path(__file__).resolve().parents[2]


def read(reader_name=SLOT_0, **kw):
    return read_identity(PcscCardReader(reader_name, **kw), today=TODAY)


def refused(reader_name=SLOT_0, **kw) -> IdCardError:
    with pytest.raises(IdCardError) as caught:
        read(reader_name, **kw)
    return caught.value


def test_a_valid_card_is_read(pcscd, insert_card):
    card = insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    assert read() == SAMPLE
    select, *reads = card.apdus
    assert select == bytes.fromhex("00A4000C020101")
    assert reads == [bytes.fromhex("00B0000080"), bytes.fromhex("00B0008080")]  # two chunks at offsets 0, 128


def test_the_block_is_read_in_chunks_of_any_size(pcscd, insert_card):
    card = insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    assert read(chunk_size=100) == SAMPLE
    assert [a[2:] for a in card.apdus[1:]] == [bytes([0, 0, 100]), bytes([0, 100, 100]), bytes([0, 200, 56])]


def test_without_a_reader_name_the_card_with_the_identity_file_is_read(pcscd, insert_card):
    insert_card(VirtualUsbKey(pcscd.port, Ed25519PrivateKey.generate()))  # slot 0: the USB key
    insert_card(VirtualIdCard(pcscd.port + 1, block_of(SAMPLE)))  # slot 1: the ID card
    assert read(None) == SAMPLE


def test_the_pcsc_reader_is_a_card_reader():
    assert isinstance(PcscCardReader(), CardReader)


def test_an_expired_card_is_refused(pcscd, insert_card):
    insert_card(VirtualIdCard(pcscd.port, block_of(expired(SAMPLE))))
    error = refused()
    assert error.code is IdCardRefusal.EXPIRED
    assert error.masked_id_number == SAMPLE.masked_id_number
    assert SAMPLE.id_number not in str(error)


def test_a_foreigners_permanent_residence_card_is_refused(pcscd, insert_card):
    insert_card(VirtualIdCard(pcscd.port, encode_text_block(SAMPLE, card_type_flag="I")))
    error = refused()
    assert error.code is IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE
    assert "not supported" in error.message


def test_a_residence_permit_is_refused(pcscd, insert_card):
    insert_card(VirtualIdCard(pcscd.port, encode_text_block(SAMPLE, card_type_flag="J")))
    assert refused().code is IdCardRefusal.RESIDENCE_PERMIT


def test_a_card_removed_mid_read_gives_a_clear_error(pcscd, insert_card):
    card = insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    card.remove_on(lambda apdu: apdu[:4] == bytes.fromhex("00B00080"))  # pulled before the second chunk
    error = refused()
    assert error.code is IdCardRefusal.CARD_REMOVED
    assert error.message == "The card was removed while it was being read; leave it on the reader and try again."


def test_an_empty_reader_gives_a_clear_error(pcscd):
    error = refused()
    assert error.code is IdCardRefusal.NO_CARD
    assert "place the ID card on the reader" in error.message
    assert refused(None).code is IdCardRefusal.NO_CARD


def test_a_reader_that_is_not_connected_gives_a_clear_error(pcscd):
    error = refused("Vendor Reader 00 00")
    assert error.code is IdCardRefusal.READER_NOT_FOUND
    assert "Vendor Reader 00 00" in error.message


def test_no_pcsc_service_means_no_reader(tmp_path):
    """A machine without pcscd (here: a client pointed at a socket nobody serves) has no reader."""
    code = ("from devices.id_card_reader import PcscCardReader\n"
            "from domain.id_card import IdCardError\n"
            "try:\n    PcscCardReader().read_text_block()\n"
            "except IdCardError as e:\n    print(e.code.value, '|', e.message)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == ("no_reader | No ID card reader is connected; connect the reader and try again."), \
        out.stderr


def test_a_card_without_the_identity_file_is_not_an_id_card(pcscd, insert_card):
    insert_card(VirtualUsbKey(pcscd.port, Ed25519PrivateKey.generate()))
    error = refused()
    assert error.code is IdCardRefusal.NOT_AN_ID_CARD
    assert "SELECT answered" in error.message


def test_a_file_shorter_than_the_block_is_malformed(pcscd, insert_card):
    insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)[:200]))
    error = refused()
    assert error.code is IdCardRefusal.MALFORMED_BLOCK
    assert "200 bytes" in error.message


class SmallBufferIdCard(VirtualIdCard):
    """A card that answers at most 64 bytes and says so with 6C40 (wrong Le, use 0x40)."""

    def respond(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and (apdu[4] or 256) > 64:
            return b"\x6C\x40"
        return super().respond(apdu)


def test_a_card_asking_for_a_smaller_le_is_read_with_it(pcscd, insert_card):
    card = insert_card(SmallBufferIdCard(pcscd.port, block_of(SAMPLE)))
    assert read() == SAMPLE
    assert [a[2:].hex() for a in card.apdus[1:]] == ["000080", "000040", "004080", "004040",
                                                     "008080", "008040", "00c040"]


class LockedIdCard(VirtualIdCard):
    """A card that wants a reader's secure module before it gives its data (6982)."""

    def respond(self, apdu: bytes) -> bytes:
        return b"\x69\x82" if apdu[1] == 0xB0 else super().respond(apdu)


def test_a_card_that_needs_a_secure_module_points_to_the_vendor_sdk(pcscd, insert_card):
    insert_card(LockedIdCard(pcscd.port, block_of(SAMPLE)))
    error = refused()
    assert error.code is IdCardRefusal.READ_FAILED
    assert "vendor SDK" in error.message


def test_the_virtual_card_acks_every_receive_at_once(pcscd, insert_card):
    """The delayed-ACK trap: vpcd sends length and payload apart, so without TCP_QUICKACK on the
    card's socket each APDU waits ~40 ms. Linux clears the flag, so the card sets it after every
    recv: checked on the calls, not on the clock."""
    import socket

    class Recorder:
        def __init__(self, sock):
            self.sock, self.calls = sock, []

        def recv(self, n):
            self.calls.append("recv")
            data = self.sock.recv(n)
            first_received.set()
            return data

        def setsockopt(self, level, option, value):
            if (level, option) == (socket.IPPROTO_TCP, socket.TCP_QUICKACK):
                self.calls.append("quickack")
            return self.sock.setsockopt(level, option, value)

    first_received = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        peer = socket.create_connection(server.getsockname())
        side, _ = server.accept()
        with peer, side:
            peer.sendall(b"\x00")  # the length in two parts, as vpcd does
            recorder, got = Recorder(side), []
            reader = threading.Thread(target=lambda: got.append(VirtualIdCard._recv_exact(recorder, 3)))
            reader.start()
            assert first_received.wait(5)  # the first byte came alone: the rest is a second recv
            peer.sendall(b"\x02\xab")
            reader.join(5)
    assert got == [b"\x00\x02\xab"]
    assert recorder.calls == ["recv", "quickack", "recv", "quickack"]
    # and the real exchange through pcscd works with it: one read, its three APDUs (select, two reads)
    card = insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    read()
    assert len(card.apdus) == 3


def test_the_exchange_and_every_refusal_code_are_documented():
    assert IDENTITY_FILE_ID == 0x0101
    doc = (ROOT / "docs" / "devices.md").read_text(encoding="utf-8")
    assert "00 A4 00 0C 02 01 01" in doc and "00 B0 <offset hi> <offset lo> <Le>" in doc
    for code in [*IdCardRefusal, *UsbKeyRefusal]:
        assert f"`{code.value}`" in doc, code
