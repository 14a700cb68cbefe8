"""`shiming terminal`: run a gate / terminal client against the platform (devices/terminal.py, docs/terminal.md).

    shiming terminal --platform https://shiming.example --serial GATE-01 --secret-file gate01.secret \\
                     --source rtsp://camera.local/stream --direction in [--once]

`--once` reads the source until it ends (a video file), uploads what it can and exits: 0 when every
punch reached the platform, 1 when some wait in the queue (the platform could not be reached),
2 on a configuration error. Without it the terminal runs until stopped, opening its source again
when it ends (a camera that dropped out, an RTSP stream that reconnects).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import stat
import sys
import time
from pathlib import Path

log = logging.getLogger("shiming.terminal")
REOPEN_SECONDS = 5.0


def add_parser(sub) -> None:
    p = sub.add_parser("terminal", help="run a gate / attendance terminal: camera in, signed punches out")
    p.add_argument("--platform", required=True, help="the platform's base URL, e.g. https://shiming.example")
    p.add_argument("--serial", required=True, help="the device's serial, as registered on the platform")
    p.add_argument("--secret-file", required=True, help="file holding the device secret (64 hex digits)")
    p.add_argument("--source", default="0", help="camera index, video file or rtsp:// URL (default 0)")
    p.add_argument("--direction", required=True, choices=["in", "out", "alternate"],
                   help="in / out: an entry or exit gate; alternate: one terminal at an open site")
    p.add_argument("--queue", help="the local punch queue file (default var-terminal/<serial>.db)")
    p.add_argument("--debounce", type=float, default=60.0, help="seconds between two punches of one worker")
    p.add_argument("--once", action="store_true", help="read the source to its end, upload, exit")
    p.set_defaults(func=cmd_terminal)


def read_secret(path: Path) -> str:
    secret = path.read_text(encoding="ascii").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", secret):
        raise ValueError(f"{path} must hold the device secret as 64 hex digits")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users: chmod 600 it", path)
    return secret


def cmd_terminal(args) -> int:
    from devices.camera import FrameSource
    from devices.face_model import FaceModelConfig, load_face_model
    from devices.terminal import Terminal, TerminalConfig, TerminalRole
    from devices.terminal_client import PlatformClient
    from devices.terminal_queue import PunchQueue
    from domain.face import FaceRefused

    try:
        secret = read_secret(Path(args.secret_file))
        client = PlatformClient(args.platform, args.serial, secret)
        model = load_face_model(FaceModelConfig.from_env())
        queue = PunchQueue(Path(args.queue or os.path.join("var-terminal", f"{args.serial}.db")))
    except (OSError, ValueError, FaceRefused) as exc:
        print(f"terminal: {exc}", file=sys.stderr)
        return 2
    terminal = Terminal(TerminalConfig(args.serial, TerminalRole(args.direction), debounce_seconds=args.debounce),
                        model, queue, client)
    try:
        while True:
            try:
                with FrameSource.open(args.source) as source:
                    terminal.run(source.frames())
            except FaceRefused as exc:
                if args.once:
                    print(f"terminal: {exc.message}", file=sys.stderr)
                    return 2
                log.warning("%s; trying again in %.0f s", exc.message, REOPEN_SECONDS)
            if args.once:
                break
            time.sleep(REOPEN_SECONDS)
    except KeyboardInterrupt:
        terminal.upload()
    finally:
        terminal.report.pending = queue.pending_count()
        queue.close()
    print(json.dumps(dataclasses.asdict(terminal.report)))
    return 0 if not terminal.report.pending else 1

