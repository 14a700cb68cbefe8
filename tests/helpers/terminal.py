"""Terminal test data through the domain's own functions: workers enrolled with a real face
template and admitted to the site, an exit, a registered API device; and camera frames and a
video file built from the test photos (tests/devices/faces)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from sqlalchemy import select

from benchmarks.face_clips import load_photo, on_canvas, write_clip
from devices.face_model import template_to_bytes
from domain import enrolment as enr
from domain import worker_exit
from domain.models import Account, Enrolment, ProjectWorker
from domain.processes.attendance import DeviceKind, DeviceProtocol
from domain.services import Services
from tests.helpers import enrolment as enrolment_helpers
from tests.helpers.faces import face_model

# photo → (scale, downward shift) on the 640 x 480 canvas that gives its face the 80 px a frame must have
PLACING = {"obama.jpg": (1.0, 0), "obama2.jpg": (1.0, 0), "obama3.jpg": (1.5, 120), "biden.jpg": (1.35, 100),
           "hanks.png": (1.0, 0)}


def gate_frame(name: str, step: int = 0) -> np.ndarray:
    """The photo as a gate camera sees it, moved by a pixel or two per `step`."""
    scale, down = PLACING[name]
    return on_canvas(load_photo(name), scale=scale, offset=(step % 3 - 1, down + (step // 3) % 2))


def template_of(name: str) -> bytes:
    frame = gate_frame(name)
    faces = face_model().detect(frame)
    assert len(faces) == 1, f"{name}: {len(faces)} faces"
    return template_to_bytes(face_model().template(frame, faces[0]))


def admitted_worker(services: Services, site: enrolment_helpers.Site, sequence: int, template: bytes,
                    name: str = "覃建国") -> int:
    """Enrol a worker with this face template and admit them (contract scan, training, grant); the worker id."""
    record = enrolment_helpers.record(site, name=name, id_number=enrolment_helpers.id_number(sequence),
                                      phone=f"138{sequence:08d}", face_template=template)
    enrolment_id, _ = enrolment_helpers.start(services, site, record)
    scan = enrolment_helpers.stored_scan(services)
    with services.Session.begin() as session:
        row = session.get(Enrolment, enrolment_id)
        pw = enr.create_worker(session, services.cipher, row)
        enr.record_contract_scan(session, row, site.actor_id, scan)
        enr.record_training(session, row, site.actor_id, "三级安全教育", "2026-12-01", 240, scan)
        enr.admit(session, row, datetime.now(timezone.utc).replace(tzinfo=None))
        return pw.worker_id


def exit_worker(services: Services, site: enrolment_helpers.Site, worker_id: int) -> None:
    """The worker's exit as the exit process records it: the engagement exited, access revoked."""
    with services.Session.begin() as session:
        pw = session.scalar(select(ProjectWorker).where(ProjectWorker.project_id == site.project_id,
                                                        ProjectWorker.worker_id == worker_id))
        worker_exit.request_exit(session, site.project_id, pw.id, session.get(Account, site.actor_id), "合同期满")
        worker_exit.finish_exit(session, pw.id, datetime.now(timezone.utc), pw.exit_workflow_id)


def api_device(services: Services, site: enrolment_helpers.Site, serial: str,
               kind: str = DeviceKind.GATE) -> str:
    """Register a device of the signed API on the site's project; its secret (hex)."""
    from domain.attendance_devices import Actor, register_device

    with services.Session.begin() as session:
        account = session.get(Account, site.actor_id)
        _, secret = register_device(session, services.cipher, Actor(account.id, account.display_name),
                                    project_id=site.project_id, serial=serial, kind=kind,
                                    protocol=DeviceProtocol.API)
        return secret


def write_video(path: Path, segments: Sequence[tuple[str, int]], fps: float = 10.0) -> Path:
    """An MJPG .avi of `count` frames of each photo in turn (a blank frame between people)."""
    frames = []
    for name, count in segments:
        frames += [gate_frame(name, i) for i in range(count)]
        frames.append(np.full_like(frames[-1], 128))
    return write_clip(path, frames, fps)


def decoded_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames

