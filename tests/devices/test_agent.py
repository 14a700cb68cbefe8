"""The local device agent against the real PC/SC stack (pcscd + vpcd + virtual cards) and a video file camera."""
from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.face_clips import challenge_frames, still_frames, load_photo, write_clip
from devices import agent
from devices.face_model import template_from_bytes
from devices.id_card_reader import PcscCardReader
from devices.usb_key import PcscUsbKey
from domain.face import Challenge
from domain.usb_key import verify_login_signature
from tests.helpers.virtual_card import VirtualIdCard, VirtualUsbKey
from tests.helpers.faces import canvas_photo, face_model, one_face
from tests.helpers.identities import SAMPLE, block_of, expired
from tests.helpers.agent import PLATFORM, TOKEN, headers, make_app
from tests.helpers.pcsc import SLOT_1

ROOT = Path(__file__).resolve().parents[2]
LEFT, RIGHT = Challenge.TURN_LEFT, Challenge.TURN_RIGHT


@pytest.fixture
def client():
    return make_app().test_client()


def error_of(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body["error"]["kind"], body["error"]["code"]


# ---- origin, pairing, loopback -------------------------------------------------------------------


def test_another_origin_or_none_is_refused_without_cors_headers(client):
    for origin in ("https://evil.example", "http://127.0.0.1:5001", None):
        response = client.get("/status", headers=headers(origin=origin))
        assert error_of(response) == (403, "agent", "origin_refused"), origin
        assert "Access-Control-Allow-Origin" not in response.headers
        preflight = client.options("/usb-key/sign", headers={"Origin": origin} if origin else {})
        assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers


def test_the_platform_origins_preflight_is_answered_for_that_origin_only(client):
    response = client.options("/usb-key/sign", headers={
        "Origin": PLATFORM, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-shiming-agent-token",
        "Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == PLATFORM
    assert agent.TOKEN_HEADER in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


def test_a_missing_or_wrong_pairing_token_is_refused(client, pcscd):
    assert error_of(client.get("/status", headers=headers(token=None))) == (401, "agent", "not_paired")
    for wrong in ("x", TOKEN + "x", TOKEN.upper()):
        response = client.post("/usb-key/sign", headers=headers(token=wrong), json={"challenge": "AA=="})
        assert error_of(response) == (401, "agent", "bad_token")
        assert response.headers["Access-Control-Allow-Origin"] == PLATFORM  # the page can read why
    bearer = client.get("/status", headers={"Origin": PLATFORM, "Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200


def test_a_request_for_another_host_name_is_refused(client):
    response = client.get("/status", headers=headers(), base_url="http://agent.evil.example:18765")
    assert error_of(response) == (403, "agent", "host_refused")


def test_the_agent_binds_only_a_loopback_address():
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        with pytest.raises(agent.AgentConfigError):
            agent.check_loopback(host)
    assert agent.check_loopback("localhost") == "127.0.0.1" and agent.check_loopback("::1") == "::1"
    result = subprocess.run([sys.executable, "-m", "shiming", "agent", "--host", "0.0.0.0", "--origin", PLATFORM],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "SHIMING_AGENT_HOME": "/nonexistent"})
    assert result.returncode == 2


def test_pairing_keeps_only_the_tokens_hash_in_a_private_file(tmp_path):
    path = tmp_path / "agent" / "agent.json"
    token = agent.pair(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token not in path.read_text() and agent.load_token_digest(path) == agent.token_digest(token)
    assert agent.pair(path) != token  # a new pairing replaces the old code
    path.chmod(0o644)
    with pytest.raises(agent.AgentConfigError):
        agent.load_token_digest(path)
    with pytest.raises(agent.AgentConfigError):
        agent.load_token_digest(tmp_path / "missing.json")
    with pytest.raises(agent.AgentConfigError):
        agent.AgentConfig((), agent.token_digest(token))
    with pytest.raises(agent.AgentConfigError):
        agent.AgentConfig(("https://platform.example/login",), agent.token_digest(token))


# ---- status --------------------------------------------------------------------------------------


def test_status_says_which_devices_are_there(pcscd, tmp_path):
    clip = write_clip(tmp_path / "camera.avi", still_frames(load_photo("obama.jpg"), 3))
    body = make_app(camera=str(clip)).test_client().get("/status", headers=headers()).get_json()
    assert body == {"card_reader": {"present": True}, "usb_key_reader": {"present": True},
                    "camera": {"present": True, "source": "video file camera.avi"}}
    body = make_app(camera=str(tmp_path / "none.avi")).test_client().get("/status", headers=headers()).get_json()
    assert body["camera"] == {"present": False, "code": "camera_unavailable", "source": "video file none.avi"}


# ---- ID card -------------------------------------------------------------------------------------


def test_the_id_card_is_read_and_only_its_masked_number_is_logged(client, pcscd, insert_card, caplog):
    insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    with caplog.at_level(logging.INFO, logger="shiming.agent"):
        response = client.post("/id-card/read", headers=headers())
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    identity = response.get_json()["identity"]
    assert identity["id_number"] == SAMPLE.id_number and identity["name"] == SAMPLE.name
    assert identity["masked_id_number"] == SAMPLE.masked_id_number
    assert identity["birth_date"] == "1985-03-12" and identity["valid_to"] == "2040-05-06"
    assert SAMPLE.masked_id_number in caplog.text
    assert SAMPLE.id_number not in caplog.text and SAMPLE.name not in caplog.text


def test_no_card_and_an_expired_card_are_refused_with_their_codes(client, pcscd, insert_card, caplog):
    assert error_of(client.post("/id-card/read", headers=headers())) == (422, "id_card", "no_card")
    insert_card(VirtualIdCard(pcscd.port, block_of(expired())))
    with caplog.at_level(logging.INFO, logger="shiming.agent"):
        response = client.post("/id-card/read", headers=headers())
    assert error_of(response) == (422, "id_card", "expired")
    assert SAMPLE.masked_id_number in response.get_json()["error"]["message"]
    assert SAMPLE.id_number not in caplog.text and SAMPLE.id_number not in response.get_data(as_text=True)


def test_the_usb_key_is_not_read_as_an_id_card(client, pcscd, insert_card):
    insert_card(VirtualUsbKey(pcscd.port, Ed25519PrivateKey.generate()))
    assert error_of(client.post("/id-card/read", headers=headers())) == (422, "id_card", "not_an_id_card")


def test_a_reader_that_is_not_connected_is_told(pcscd):
    config = agent.AgentConfig((PLATFORM,), agent.token_digest(TOKEN))
    devices = agent.AgentDevices(PcscCardReader("Vendor Reader 9"), PcscUsbKey("Vendor Reader 9"), "0", face_model,
                                 "Vendor Reader 9", "Vendor Reader 9")
    client = agent.create_agent_app(config, devices).test_client()
    assert error_of(client.post("/id-card/read", headers=headers())) == (503, "id_card", "reader_not_found")
    response = client.post("/usb-key/sign", headers=headers(), json={"challenge": base64.b64encode(os.urandom(32)).decode()})
    assert error_of(response) == (503, "usb_key", "reader_not_found")
    assert client.get("/status", headers=headers()).get_json()["card_reader"] == {"present": False,
                                                                                   "code": "reader_not_found"}


# ---- USB key ---------------------------------------------------------------------------------------


def test_the_usb_key_signs_a_login_challenge(client, pcscd, insert_card):
    card = insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))
    challenge = os.urandom(32)
    response = client.post("/usb-key/sign", headers=headers(), json={"challenge": base64.b64encode(challenge).decode()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    public_key = base64.b64decode(body["public_key"])
    assert public_key == card.public_key_bytes()
    assert verify_login_signature(public_key, challenge, base64.b64decode(body["signature"]))


def test_a_bad_challenge_or_a_missing_key_is_refused(client, pcscd, insert_card):
    for bad in ({"challenge": "not base64!"}, {"challenge": base64.b64encode(b"short").decode()}, {}):
        status, kind, code = error_of(client.post("/usb-key/sign", headers=headers(), json=bad))
        assert status == 400 and code in ("bad_request", "bad_challenge"), bad
    response = client.post("/usb-key/sign", headers=headers(), json={"challenge": base64.b64encode(os.urandom(32)).decode()})
    assert error_of(response) == (422, "usb_key", "no_card")
    response = client.post("/usb-key/sign", headers=headers(), data="{not json", content_type="application/json")
    assert error_of(response) == (400, "agent", "bad_request")


# ---- face ------------------------------------------------------------------------------------------


def test_a_live_face_is_captured_from_a_video_file_camera(tmp_path):
    frame = canvas_photo("obama.jpg")
    clip = write_clip(tmp_path / "camera.avi", challenge_frames(frame, one_face(frame), [RIGHT, LEFT]))
    client = make_app(camera=str(clip)).test_client()
    response = client.post("/face/capture", headers=headers(), json={"challenge": ["turn_right", "turn_left"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["liveness"]["passed"] and body["liveness"]["observed"] == ["turn_right", "turn_left"]
    template = template_from_bytes(base64.b64decode(body["template"]))
    assert len(template) == body["dimension"] == face_model().dimension
    assert float(template @ face_model().template(frame, one_face(frame))) >= face_model().match_threshold
    assert body["quality"]["face_px"] >= 80 and body["quality"]["sharpness"] > 0


def test_a_photo_held_to_the_camera_and_a_missing_camera_are_refused(tmp_path):
    clip = write_clip(tmp_path / "photo.avi", still_frames(load_photo("obama.jpg"), 8))
    client = make_app(camera=str(clip)).test_client()
    response = client.post("/face/capture", headers=headers(), json={"challenge": ["turn_left", "turn_right"]})
    assert error_of(response)[:2] == (422, "face") and error_of(response)[2] in ("no_head_turn", "static_image")
    frame = canvas_photo("obama.jpg")
    clip = write_clip(tmp_path / "camera.avi", challenge_frames(frame, one_face(frame), [RIGHT, LEFT]))
    response = make_app(camera=str(clip)).test_client().post(
        "/face/capture", headers=headers(), json={"challenge": ["turn_left", "turn_right"]})
    assert error_of(response) == (422, "face", "challenge_wrong_order")
    client = make_app(camera=str(tmp_path / "none.avi")).test_client()
    response = client.post("/face/capture", headers=headers(), json={"challenge": ["turn_left"]})
    assert error_of(response) == (503, "face", "camera_unavailable")
    for bad in ({}, {"challenge": ["turn_left", "turn_left"]}, {"challenge": ["jump"]}, {"challenge": "turn_left"}):
        assert error_of(client.post("/face/capture", headers=headers(), json=bad)) == (400, "agent", "bad_request")


def test_the_agent_serves_over_loopback_http(client, pcscd, insert_card):
    """The real server (werkzeug, threaded) on 127.0.0.1 with an ephemeral port."""
    import threading
    import urllib.request

    server = agent.make_server(make_app(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/status"
        request = urllib.request.Request(url, headers=headers())
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["card_reader"] == {"present": True}
            assert response.headers["Access-Control-Allow-Origin"] == PLATFORM
            assert response.headers["Server"] == "shiming-agent"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class SampleSdkReader:
    """A stand-in for a vendor SDK backend: hands out the block as a certified reader's SDK would."""

    def read_text_block(self) -> bytes:
        return block_of(SAMPLE)

    def present(self) -> bool:
        return True


def test_a_vendor_card_reader_class_plugs_in_by_name(tmp_path):
    reader = agent.load_card_reader("tests.devices.test_agent:SampleSdkReader")
    devices = agent.pcsc_devices(str(tmp_path / "none.avi"), card_reader_class="tests.devices.test_agent:SampleSdkReader")
    assert isinstance(reader, SampleSdkReader) and isinstance(devices.card_reader, SampleSdkReader)
    client = agent.create_agent_app(agent.AgentConfig((PLATFORM,), agent.token_digest(TOKEN)), devices).test_client()
    assert client.post("/id-card/read", headers=headers()).get_json()["identity"]["id_number"] == SAMPLE.id_number
    assert client.get("/status", headers=headers()).get_json()["card_reader"] == {"present": True}
    for bad in ("tests.devices.test_agent:Nothing", "no.such.module:Reader", "tests.devices.test_agent:PLATFORM"):
        with pytest.raises(agent.AgentConfigError):
            agent.load_card_reader(bad)


class BrokenReader:
    def read_text_block(self) -> bytes:
        raise OSError("the vendor library crashed")


def test_an_unexpected_failure_is_a_json_error_the_page_can_read():
    devices = agent.AgentDevices(BrokenReader(), PcscUsbKey(SLOT_1), "0", face_model)
    client = agent.create_agent_app(agent.AgentConfig((PLATFORM,), agent.token_digest(TOKEN)), devices).test_client()
    response = client.post("/id-card/read", headers=headers())
    assert error_of(response) == (500, "agent", "internal_error")
    assert response.headers["Access-Control-Allow-Origin"] == PLATFORM
    assert error_of(client.get("/nowhere", headers=headers())) == (404, "agent", "bad_request")
