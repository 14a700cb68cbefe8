"""The device agent for tests: its app over the private pcscd's two slots and a camera, the request
headers of the platform's page, and `Served`, a real loopback HTTP server for an app (the agent or
the web app) that a browser can reach."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server

from devices import agent
from devices.id_card_reader import PcscCardReader
from devices.usb_key import PcscUsbKey
from tests.helpers.faces import face_model
from tests.helpers.pcsc import SLOT_0, SLOT_1

PLATFORM = "http://127.0.0.1:5000"
TOKEN = "pairing-token-for-tests-0123456789abcdef"


def make_app(camera="0", token=TOKEN, origins=(PLATFORM,)):
    config = agent.AgentConfig(origins, agent.token_digest(token))
    devices = agent.AgentDevices(PcscCardReader(SLOT_0), PcscUsbKey(SLOT_1), camera, face_model, SLOT_0, SLOT_1)
    return agent.create_agent_app(config, devices)


def headers(origin=PLATFORM, token=TOKEN):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if token is not None:
        h[agent.TOKEN_HEADER] = token
    return h


class Served:
    def __init__(self, app, host="127.0.0.1"):
        self.server = make_server(host, 0, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
