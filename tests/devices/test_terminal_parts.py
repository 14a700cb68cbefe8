"""The terminal's parts on their own: the local queue, the watermark, the sealed templates, the
1:N gallery the terminal builds from them, and the per-frame decisions (debounce, direction)."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from devices.face_model import template_to_bytes
from devices.terminal import Terminal, TerminalConfig, TerminalRole
from devices.terminal_client import PlatformClient, punch_body
from devices.terminal_queue import PunchQueue, QueueState
from devices.watermark import Stamp, photo_sha256, watermark
from domain.device_templates import Gallery, SealedGalleryError, open_gallery, seal_gallery
from tests.helpers.faces import canvas_photo, face_model

AT = datetime(2026, 12, 3, 0, 30, 5, tzinfo=timezone.utc)     # 08:30:05 on the site


def test_queue_numbers_punches_in_capture_order_and_keeps_the_counter(tmp_path):
    path = tmp_path / "t.db"
    with PunchQueue(path) as queue:
        seqs = [queue.add(7, AT + timedelta(seconds=i), "in", 900, b"jpeg%d" % i, "00" * 32) for i in range(3)]
        assert seqs == [1, 2, 3]
        queue.answer([(1, QueueState.DELIVERED, "stored", None), (2, QueueState.REJECTED, "rejected", "bad_photo")],
                     AT)
        assert [p.seq for p in queue.pending(10)] == [3]
        assert queue.prune(AT + timedelta(days=1)) == 2
    with PunchQueue(path) as queue:                                   # reopened: seq goes on, never reused
        assert queue.add(7, AT, "out", None, None, None) == 4
        assert [(s, st) for s, _, st, _ in queue.states()] == [(3, "pending"), (4, "pending")]
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT photo FROM punch WHERE seq = 3").fetchone()[0] == b"jpeg2"
    raw.close()


def test_a_delivered_punch_loses_its_photo_and_a_repeated_answer_changes_nothing(tmp_path):
    with PunchQueue(tmp_path / "t.db") as queue:
        seq = queue.add(7, AT, "in", 900, b"jpeg", "ab" * 32)
        queue.answer([(seq, QueueState.DELIVERED, "stored", None)], AT)
        queue.answer([(seq, QueueState.REJECTED, "rejected", "bad_photo")], AT)   # not pending any more
        assert queue.states() == [(seq, 7, "delivered", None)]
        assert queue.pending(10) == []


def test_queue_seqs_stay_strictly_increasing_across_threads(tmp_path):
    path, seqs = tmp_path / "t.db", []

    def take(n):
        with PunchQueue(path) as queue:
            seqs.extend(queue.add(1, AT, "in", None, None, None) for _ in range(n))

    PunchQueue(path).close()
    threads = [threading.Thread(target=take, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seqs) == list(range(1, 101))
    with PunchQueue(path) as queue:
        assert [p.seq for p in queue.pending(1000)] == list(range(1, 101))


def test_a_naive_time_or_a_seq_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError):
        PunchQueue(tmp_path / "a.db", first_seq=0)
    with PunchQueue(tmp_path / "b.db", first_seq=501) as queue:
        with pytest.raises(ValueError):
            queue.add(1, AT.replace(tzinfo=None), "in", None, None, None)
        assert queue.add(1, AT, "in", None, None, None) == 501


def test_watermark_writes_the_stamp_on_a_copy_and_its_hash_names_the_bytes():
    frame = canvas_photo("obama.jpg")
    stamp = Stamp(AT, "P450103", "GATE-01", 42, "in")
    assert stamp.lines() == ["2026-12-03 08:30:05 UTC+0800  IN", "project P450103  device GATE-01  worker 42"]
    photo = watermark(frame, stamp)
    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == frame.shape
    band, top = image[-40:].astype(int), image[:200].astype(int)
    assert np.abs(top - frame[:200].astype(int)).mean() < 4          # the picture above is the picture
    assert (band > 200).any() and band.mean() < frame[-40:].mean()   # white text on a darkened band
    assert photo_sha256(photo) == hashlib.sha256(photo).hexdigest()
    assert watermark(frame, Stamp(AT, "P450103", "GATE-01", 43, "in")) != photo
    assert canvas_photo("obama.jpg").flags.writeable is False        # the frame itself is untouched
    big = watermark(cv2.resize(frame, (3840, 2880)), stamp)                # a 4K camera's frame
    assert cv2.imdecode(np.frombuffer(big, np.uint8), cv2.IMREAD_COLOR).shape == (960, 1280, 3)
    assert len(big) < 512 * 1024


def _gallery(templates) -> Gallery:
    return Gallery(3, "P450103", [(w, template_to_bytes(t)) for w, t in templates], [9], "ab" * 32)


def test_templates_open_only_for_their_device_and_version():
    secret, rng = secrets.token_hex(32), np.random.default_rng(1)
    gallery = _gallery([(5, rng.standard_normal(512)), (6, rng.standard_normal(512))])
    envelope = seal_gallery(gallery, "GATE-01", secret)
    assert b"template" not in base64.b64decode(envelope["ciphertext"])
    opened = open_gallery(envelope, "GATE-01", secret)
    assert opened == gallery and opened.templates == gallery.templates
    for serial, key, change in (("GATE-02", secret, {}), ("GATE-01", secrets.token_hex(32), {}),
                                ("GATE-01", secret, {"version": "cd" * 32})):
        with pytest.raises(SealedGalleryError):
            open_gallery({**envelope, **change}, serial, key)
    with pytest.raises(SealedGalleryError):
        open_gallery({"version": "x"}, "GATE-01", secret)
    assert seal_gallery(gallery, "GATE-01", secret, since=gallery.version) == {"version": gallery.version,
                                                                                "unchanged": True}


def test_the_terminal_gallery_leaves_out_revoked_workers_and_matches_at_the_model_threshold():
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((3, 512)).astype(np.float32)
    broken = [(7, np.zeros(512, "<f4").tobytes()), (8, np.full(512, np.nan, "<f4").tobytes()), (10, b"\0" * 512)]
    gallery = Terminal.gallery_of(Gallery(3, "P", [(5, template_to_bytes(rows[0])), (9, template_to_bytes(rows[1])),
                                                   (6, template_to_bytes(rows[2])), *broken], [9], ""), face_model())
    assert len(gallery) == 2 and gallery.threshold == face_model().match_threshold
    assert gallery.match(rows[2] + 0.1 * rng.standard_normal(512)).worker_id == 6
    assert gallery.match(rows[1]).worker_id is None                  # revoked: not on the terminal


class _NoPlatform(PlatformClient):
    def templates(self, since=None):
        raise AssertionError("not called")


def _terminal(tmp_path, role=TerminalRole.IN, debounce=60.0):
    clock = {"now": AT, "tick": 0.0}
    model = face_model()
    terminal = Terminal(TerminalConfig("GATE-01", role, debounce_seconds=debounce), model,
                        PunchQueue(tmp_path / "t.db"), _NoPlatform("http://127.0.0.1:9", "GATE-01", "00" * 32),
                        now=lambda: clock["now"], monotonic=lambda: clock["tick"])
    frame = canvas_photo("obama.jpg")
    (face,) = model.detect(frame)
    terminal.gallery = Terminal.gallery_of(_gallery([(5, model.template(frame, face))]), model)
    terminal.project_code = "P450103"
    return terminal, clock


def test_one_person_in_front_of_the_camera_is_one_punch_per_debounce_period(tmp_path):
    terminal, clock = _terminal(tmp_path)
    frame = canvas_photo("obama2.jpg")
    assert terminal.on_frame(frame) == 1
    clock["tick"] = 59.0
    assert terminal.on_frame(frame) is None
    clock["tick"], clock["now"] = 61.0, AT + timedelta(seconds=61)
    assert terminal.on_frame(frame) == 2
    assert terminal.on_frame(canvas_photo("hanks.png")) is None and terminal.report.unknown == 1
    (first, second) = terminal.queue.pending(10)
    assert (first.worker_id, first.direction, first.time) == (5, "in", "2026-12-03T00:30:05+00:00")
    assert first.photo_sha256 == hashlib.sha256(first.photo).hexdigest() and 580 <= first.match_score <= 1000
    body = punch_body("GATE-01", [first])["punches"][0]
    assert base64.b64decode(body["photo"]) == first.photo and body["seq"] == 1 and body["device"] == "GATE-01"
    json.dumps(body)


def test_an_open_site_terminal_alternates_in_and_out_per_worker_and_day(tmp_path):
    terminal, clock = _terminal(tmp_path, TerminalRole.ALTERNATE, debounce=0)
    frame = canvas_photo("obama2.jpg")
    directions = []
    for hours in (0, 4, 9, 24):                                        # the last one is the next local day
        clock["now"], clock["tick"] = AT + timedelta(hours=hours), hours * 3600.0
        terminal.on_frame(frame)
        directions.append(terminal.queue.pending(10)[-1].direction)
    assert directions == ["in", "out", "in", "in"]


def test_the_command_refuses_a_secret_file_that_is_not_a_secret(tmp_path, capsys):
    from shiming.cli import main

    secret = tmp_path / "gate.secret"
    secret.write_text("not-a-secret\n")
    args = ["terminal", "--platform", "http://127.0.0.1:9", "--serial", "GATE-01", "--secret-file", str(secret),
            "--source", str(tmp_path / "none.avi"), "--direction", "in", "--queue", str(tmp_path / "q.db"), "--once"]
    assert main(args) == 2 and "64 hex digits" in capsys.readouterr().err
    assert main(args[:6] + [str(tmp_path / "missing")] + args[7:]) == 2
    secret.write_text("ab" * 32)
    assert main(args) == 2 and "cannot be opened" in capsys.readouterr().err   # no such video file
