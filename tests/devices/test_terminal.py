"""`shiming terminal` end to end, a video file as its camera, the real platform app served on loopback.

Two workers are enrolled through the domain with templates from real photos and admitted; the
gate is registered as an API device. The terminal (the real command, the real face model, its own
SQLite queue) runs with `--once` over video files built from the test photos:
- online: the known worker is punched once (debounced), the stranger is not; the platform holds
  the punch with the photo whose sha256 the terminal computed;
- offline (the platform stopped): the punches wait in the queue, the templates come from the file;
- online again: they arrive in capture order, exactly once, also when an answer was lost;
- after an exit, the next sync revokes the worker's template: that face is no longer punched.
"""
from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from devices.terminal_client import PlatformClient, PlatformRefused, PlatformUnavailable
from domain.models import Punch, PunchQuarantine, StoredFile
from domain.processes.attendance import PunchChannel
from shiming.cli import main
from tests.helpers import enrolment as enrolment_helpers
from tests.helpers.terminal import admitted_worker, api_device, exit_worker, template_of, write_video
from web import create_app

SERIAL = "GATE-01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def platform(app, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def gate(services, tmp_path):
    site = enrolment_helpers.site(services)
    workers = {"obama": admitted_worker(services, site, 301, template_of("obama.jpg")),
               "biden": admitted_worker(services, site, 302, template_of("biden.jpg"), name="韦秀英")}
    secret_file = tmp_path / "gate.secret"
    secret_file.write_text(api_device(services, site, SERIAL) + "\n")
    secret_file.chmod(0o600)
    videos = {
        "known_and_stranger": write_video(tmp_path / "a.avi", [("obama2.jpg", 3), ("hanks.png", 3), ("obama3.jpg", 2)]),
        "two_workers": write_video(tmp_path / "b.avi", [("biden.jpg", 3), ("obama2.jpg", 2)]),
        "stranger": write_video(tmp_path / "c.avi", [("hanks.png", 2)]),
    }
    return site, workers, secret_file, videos


def run_terminal(capsys, url: str, secret_file, queue, video) -> tuple[int, dict]:
    code = main(["terminal", "--platform", url, "--serial", SERIAL, "--secret-file", str(secret_file),
                 "--source", str(video), "--direction", "in", "--queue", str(queue), "--debounce", "3600", "--once"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def stored(services) -> list[tuple[int, int, str, str, bytes]]:
    """(seq, worker id, direction, photo sha256, photo bytes) of every punch, in the order stored."""
    with services.Session() as session:
        rows = session.execute(select(Punch, StoredFile.sha256).join(StoredFile, StoredFile.id == Punch.photo_file_id)
                               .order_by(Punch.id)).all()
        assert all(p.channel == PunchChannel.TERMINAL and p.device_id is not None for p, _ in rows)
        return [(p.device_seq, p.worker_id, p.direction, p.photo_sha256, services.blobs.get(sha)) for p, sha in rows]


def queue_hashes(queue) -> dict[int, str]:
    db = sqlite3.connect(queue)
    try:
        return dict(db.execute("SELECT seq, photo_sha256 FROM punch"))
    finally:
        db.close()


def test_terminal_punches_the_right_worker_queues_offline_and_delivers_in_order_exactly_once(
        services, gate, tmp_path, capsys):
    site, workers, secret_file, videos = gate
    app, port, queue = create_app(services, None, {"TESTING": True}), _free_port(), tmp_path / "queue.db"

    with platform(app, port) as url:                       # online: the known face, once; the stranger, never
        code, report = run_terminal(capsys, url, secret_file, queue, videos["known_and_stranger"])
    assert code == 0 and report["punched"] == [1] and report["delivered"] == 1 and report["unknown"] >= 3
    (seq, worker, direction, digest, photo), = stored(services)
    assert (seq, worker, direction) == (1, workers["obama"], "in")
    assert digest == hashlib.sha256(photo).hexdigest() == queue_hashes(queue)[1] and photo[:3] == b"\xff\xd8\xff"

    # offline: nothing answers on the port; the templates come from the queue file
    code, report = run_terminal(capsys, f"http://127.0.0.1:{port}", secret_file, queue, videos["two_workers"])
    assert code == 1 and report["punched"] == [2, 3] and report["pending"] == 2 and report["delivered"] == 0
    assert len(stored(services)) == 1

    with platform(app, port) as url:                       # back: delivered in capture order
        code, report = run_terminal(capsys, url, secret_file, queue, videos["stranger"])
        assert code == 0 and report["punched"] == [] and report["delivered"] == 2 and report["pending"] == 0
        punches = stored(services)
        assert [(s, w) for s, w, *_ in punches] == [(1, workers["obama"]), (2, workers["biden"]), (3, workers["obama"])]
        hashes = queue_hashes(queue)
        assert all(d == hashes[s] == hashlib.sha256(p).hexdigest() for s, _, _, d, p in punches)

        lost = sqlite3.connect(queue)                      # the answer for seq 3 was lost: it goes again
        lost.execute("UPDATE punch SET state = 'pending' WHERE seq = 3")
        lost.commit()
        lost.close()
        code, report = run_terminal(capsys, url, secret_file, queue, videos["stranger"])
        assert code == 0 and report["delivered"] == 1 and len(stored(services)) == 3

        exit_worker(services, site, workers["obama"])      # the exit revokes the template at the next sync
        code, report = run_terminal(capsys, url, secret_file, queue, videos["known_and_stranger"])
        assert code == 0 and report["punched"] == [] and report["unknown"] >= 5
    assert len(stored(services)) == 3
    with services.Session() as session:
        assert session.scalars(select(PunchQuarantine)).all() == []


def test_the_client_tells_a_refusal_from_a_platform_that_is_not_there(services, tmp_path):
    site = enrolment_helpers.site(services)
    secret = api_device(services, site, SERIAL)
    port = _free_port()
    with pytest.raises(PlatformUnavailable):
        PlatformClient(f"http://127.0.0.1:{port}", SERIAL, secret, timeout=5).templates()
    with platform(create_app(services, None, {"TESTING": True}), port) as url:
        with pytest.raises(PlatformRefused) as refused:
            PlatformClient(url, SERIAL, "ab" * 32).templates()
        assert (refused.value.status, refused.value.code) == (401, "bad_signature") and refused.value.message
        with pytest.raises(PlatformRefused) as stale:                # a terminal whose clock is 10 minutes off
            PlatformClient(url, SERIAL, secret, clock=lambda: time.time() - 600).templates()
        assert stale.value.code == "stale_timestamp"
        assert PlatformClient(url, SERIAL, secret).templates()["version"]
    with pytest.raises(ValueError):
        PlatformClient("ftp://example", SERIAL, secret)
