"""The attendance message module's pure helpers: the canonical string and its signature, the
timestamp window, skew, sequence gaps and the source allowlist."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from domain.processes import attendance as m

SECRET = "ab" * 32


def test_canonical_string_covers_timestamp_nonce_method_path_and_body():
    canonical = m.canonical_string("1764748800", "n" * 16, "post", "/api/attendance/v1/punches", b'{"punches":[]}')
    assert canonical.split("\n") == ["1764748800", "n" * 16, "POST", "/api/attendance/v1/punches",
                                     m.body_sha256(b'{"punches":[]}')]


def test_a_signature_verifies_only_for_the_same_secret_and_canonical_string():
    canonical = m.canonical_string("1764748800", "n" * 16, "POST", "/p", b"body")
    signature = m.sign(SECRET, canonical)
    assert m.verify(SECRET, canonical, signature) and m.verify(SECRET, canonical, signature.upper())
    assert not m.verify("cd" * 32, canonical, signature)
    assert not m.verify(SECRET, canonical.replace("/p", "/q"), signature)
    assert not m.verify(SECRET, m.canonical_string("1764748800", "n" * 16, "POST", "/p", b"body!"), signature)
    assert not m.verify(SECRET, canonical, "zz" + signature[2:]) and not m.verify(SECRET, canonical, "")


def test_the_timestamp_window_is_300_seconds_either_side():
    now = 1_764_748_800
    assert m.timestamp_refusal(str(now - 300), now) is None and m.timestamp_refusal(str(now + 300), now) is None
    for stale in (str(now - 301), str(now + 301), "-5", "1.5e9", "", "9" * 13):
        assert m.timestamp_refusal(stale, now) == m.IngestRefusal.STALE_TIMESTAMP


def test_nonce_and_serial_shapes():
    assert m.valid_nonce("a" * 16) and m.valid_nonce("A-_9" * 16) and not m.valid_nonce("a" * 15)
    assert not m.valid_nonce("a" * 65) and not m.valid_nonce("a" * 15 + "/")
    assert m.valid_serial("ZK-3K8X.01:a") and not m.valid_serial("") and not m.valid_serial("a b")
    assert not m.valid_serial("x" * 65)


def test_skew_is_device_time_minus_server_time_and_flagged_beyond_300_seconds():
    server = datetime(2026, 12, 3, 8, 0, 0)
    device = datetime(2026, 12, 3, 16, 5, 1, tzinfo=timezone(timedelta(hours=8)))  # 08:05:01 UTC
    assert m.skew_seconds(device, server) == 301 and m.skew_flagged(301) and m.skew_flagged(-301)
    assert m.skew_seconds(server - timedelta(seconds=300), server) == -300 and not m.skew_flagged(-300)


def test_sequence_gaps_as_ranges_from_the_start():
    assert m.sequence_gaps([1, 2, 3]) == [] and m.sequence_gaps([]) == []
    assert m.sequence_gaps([1, 2, 5, 6, 9], start=1) == [(3, 4), (7, 8)]
    assert m.sequence_gaps([4, 5, 5, 7], start=1) == [(1, 3), (6, 6)]
    assert m.sequence_gaps([4, 7]) == [(5, 6)]  # no start: counted from the first seen
    assert m.gap_count([(1, 3), (6, 6)]) == 4
    assert m.listed_gaps([(1, 3), (6, 6)]) == [1, 2, 3, 6] and m.listed_gaps([(1, 10**9)], limit=3) == [1, 2, 3]


def test_source_allowlist():
    assert m.source_allowed("", "203.0.113.7")
    assert m.source_allowed("10.1.2.0/24, 203.0.113.7", "203.0.113.7")
    assert m.source_allowed("10.1.2.0/24", "10.1.2.9") and not m.source_allowed("10.1.2.0/24", "10.1.3.9")
    assert not m.source_allowed("10.1.2.0/24", "not-an-address")
    assert m.parse_sources("10.1.2.7/24, ::1") == ["10.1.2.0/24", "::1/128"] and m.parse_sources("10.1.2/33") is None
