"""`shiming terminal`: the platform's own gate / terminal client (ATT-4, issue 11 point 4; docs/terminal.md).

Frames come from a camera index, a video file or an RTSP URL (devices/camera.py). On each frame the
largest face is taken, checked like an enrolment frame (devices/face_quality.py: size, light,
focus; a frame that fails is skipped, not refused), turned into a template by the face model and
matched 1:N against the project's templates (devices/face_match.py: one matrix-vector product over
the normalised template matrix, at the model's match threshold, as enrolment uses). A face below
the threshold is unknown and never punched.

A known worker is punched at most once per `debounce_seconds` (someone standing at the gate is
one punch). Direction: the terminal's configured role (`in` or `out` for a gate), or `alternate`
for an open site's one terminal: in, then out, then in… per worker and local day. The punch photo
is the frame, watermarked with time, project, device, worker and direction (devices/watermark.py);
its sha256 goes with the punch. The punch is stored first in the local queue (devices/terminal_queue.py:
device sequence number assigned at capture, strictly increasing), then uploaded in seq order,
signed (devices/terminal_client.py). While the platform cannot be reached, punches wait in the
queue and uploads are retried every `retry_seconds` (a new punch does not wait for a platform that
was just unreachable), and the templates are synced every `sync_seconds`
(an exit's revocation removes the worker's template at the next sync).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Callable, Iterable, Optional

import numpy as np

from devices.face_match import FaceGallery, FaceMatch
from devices.face_model import FaceModel
from devices.face_quality import QualityLimits, check_quality
from devices.terminal_client import PlatformClient, PlatformRefused, PlatformUnavailable
from devices.terminal_queue import PunchQueue, QueueState
from devices.watermark import Stamp, photo_sha256, watermark
from domain.calendar import LOCAL_TZ
from domain.device_templates import Gallery, SealedGalleryError, open_gallery
from domain.face import FaceRefused
from domain.processes.attendance import Direction, ItemOutcome

log = logging.getLogger("shiming.terminal")

ENVELOPE_KEY = "templates_envelope"
DELIVERED = {ItemOutcome.STORED, ItemOutcome.DUPLICATE, ItemOutcome.QUARANTINED}


class TerminalRole(StrEnum):
    IN = "in"                           # an entry gate
    OUT = "out"                         # an exit gate
    ALTERNATE = "alternate"             # one terminal at an open site: in, out, in… per worker and day


@dataclass(frozen=True)
class TerminalConfig:
    serial: str
    role: TerminalRole
    debounce_seconds: float = 60.0
    sync_seconds: float = 300.0
    retry_seconds: float = 30.0
    upload_batch: int = 20
    quality: QualityLimits = field(default_factory=QualityLimits)


@dataclass
class TerminalReport:
    frames: int = 0
    faces: int = 0
    unknown: int = 0
    punched: list[int] = field(default_factory=list)        # seqs taken this run
    delivered: int = 0
    rejected: int = 0
    pending: int = 0


class Terminal:
    def __init__(self, config: TerminalConfig, model: FaceModel, queue: PunchQueue, client: PlatformClient,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 monotonic: Callable[[], float] = time.monotonic):
        self.config, self.model, self.queue, self.client = config, model, queue, client
        self._now, self._monotonic = now, monotonic
        self.gallery: Optional[FaceGallery] = None
        self.project_code = ""
        self._version: Optional[str] = None
        self._last_punch: dict[int, float] = {}
        self._next_sync = self._next_upload = float("-inf")
        self._online = True                                 # the last upload reached the platform
        self.report = TerminalReport()

    # --- templates ------------------------------------------------------------------------------

    def sync(self) -> bool:
        """Fetch the project's templates (or confirm ours are current); on failure keep what we
        have, or load the last envelope stored in the queue file. True when the platform answered."""
        self._next_sync = self._monotonic() + self.config.sync_seconds
        try:
            envelope = self.client.templates(self._version)
        except (PlatformUnavailable, PlatformRefused) as exc:
            log.warning("templates not synced: %s", exc)
            if self.gallery is None:
                stored = self.queue.get_meta(ENVELOPE_KEY)
                if stored:
                    self._install(json.loads(stored))
            return False
        if not envelope.get("unchanged"):
            self._install(envelope)
            self.queue.set_meta(ENVELOPE_KEY, json.dumps(envelope))
        return True

    def _install(self, envelope: dict) -> None:
        try:
            gallery = open_gallery(envelope, self.config.serial, self.client.secret_hex)
        except SealedGalleryError as exc:
            log.error("templates refused: %s", exc)
            return
        self.gallery = self.gallery_of(gallery, self.model)
        self.project_code, self._version = gallery.project_code, gallery.version
        for worker_id in gallery.revoked:
            self._last_punch.pop(worker_id, None)
        log.info("templates of project %s: %d workers, %d revoked", gallery.project_code, len(self.gallery),
                 len(gallery.revoked))

    @staticmethod
    def gallery_of(gallery: Gallery, model: FaceModel) -> FaceGallery:
        """One (N, D) matrix from the synced bytes in one step; a revoked worker's template, one of
        another model's size, or one that is not a finite non-zero vector is left out."""
        revoked, size = set(gallery.revoked), 4 * model.dimension
        kept = [(w, t) for w, t in gallery.templates if w not in revoked and len(t) == size]
        matrix = np.frombuffer(b"".join(t for _, t in kept), dtype="<f4").reshape(len(kept), model.dimension)
        norms = np.linalg.norm(matrix, axis=1)
        usable = np.isfinite(norms) & (norms > 0)          # a zero or NaN row would match nobody, or everybody
        return FaceGallery([w for (w, _), ok in zip(kept, usable) if ok], matrix[usable], model.match_threshold)

    # --- frames ---------------------------------------------------------------------------------

    def identify(self, frame: np.ndarray) -> Optional[FaceMatch]:
        """The largest face's match, or None when there is no usable face (or no templates yet)."""
        if self.gallery is None:
            return None
        faces = self.model.detect(frame)
        if not faces:
            return None
        face = max(faces, key=lambda f: f.size)
        try:
            check_quality(frame, [face], self.config.quality)
        except FaceRefused:
            return None
        self.report.faces += 1
        return self.gallery.match(self.model.template(frame, face))

    def on_frame(self, frame: np.ndarray) -> Optional[int]:
        """Process one frame; the seq of the punch it made, if any."""
        self.report.frames += 1
        found = self.identify(frame)
        if found is None:
            return None
        if not found.known:
            self.report.unknown += 1
            return None
        worker_id, tick = int(found.worker_id), self._monotonic()
        last = self._last_punch.get(worker_id)
        if last is not None and tick - last < self.config.debounce_seconds:
            return None
        self._last_punch[worker_id] = tick
        return self._punch(frame, worker_id, found.score)

    def _punch(self, frame: np.ndarray, worker_id: int, score: float) -> int:
        at = self._now().replace(microsecond=0)
        direction = self.direction_for(worker_id, at)
        photo = watermark(frame, Stamp(at, self.project_code, self.config.serial, worker_id, direction))
        seq = self.queue.add(worker_id, at, direction, max(0, min(1000, round(score * 1000))), photo,
                             photo_sha256(photo))
        self.report.punched.append(seq)
        log.info("punch %d: worker %d %s (score %.2f)", seq, worker_id, direction, score)
        if self._online:
            self._next_upload = float("-inf")               # deliver it now; offline, wait for the retry time
        return seq

    def direction_for(self, worker_id: int, at: datetime) -> str:
        if self.config.role != TerminalRole.ALTERNATE:
            return Direction(self.config.role.value)
        local = at.astimezone(LOCAL_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        last = self.queue.last_direction(worker_id, midnight)
        return Direction.OUT if last == Direction.IN else Direction.IN

    # --- uploads --------------------------------------------------------------------------------

    def upload(self) -> bool:
        """Send the pending punches in seq order, batch by batch; False when the platform could not
        be reached or refused the request (the punches stay queued)."""
        self._next_upload = self._monotonic() + self.config.retry_seconds
        while True:
            batch = self.queue.pending(self.config.upload_batch)
            if not batch:
                return True
            try:
                answer = self.client.upload(batch)
            except (PlatformUnavailable, PlatformRefused) as exc:
                log.warning("%d punches wait for the platform: %s", self.queue.pending_count(), exc)
                self._online = False
                return False
            self._online = True
            if not self._record(batch, answer):
                log.error("the platform answered for none of %d punches; they stay queued", len(batch))
                return False

    def _record(self, batch, answer: dict) -> int:
        """Store the platform's per-item answers; the number of punches it answered for (one not
        answered stays pending and goes again with the next upload)."""
        by_seq = {r.get("seq"): r for r in answer.get("results", [])}
        answers = []
        for punch in batch:
            result = by_seq.get(punch.seq)
            if result is None:
                continue                                   # not answered: sent again next time
            outcome = result.get("outcome")
            state = QueueState.DELIVERED if outcome in DELIVERED else QueueState.REJECTED
            answers.append((punch.seq, state, str(outcome), result.get("code")))
            if state == QueueState.REJECTED:
                log.error("punch %d rejected by the platform: %s", punch.seq, result.get("code"))
        self.queue.answer(answers, self._now())
        self.report.delivered += sum(1 for a in answers if a[1] == QueueState.DELIVERED)
        self.report.rejected += sum(1 for a in answers if a[1] == QueueState.REJECTED)
        return len(answers)

    # --- the loop -------------------------------------------------------------------------------

    def run(self, frames: Iterable[np.ndarray]) -> TerminalReport:
        """Process frames until the source ends; sync and upload when due; a last upload at the end."""
        self.sync()
        for frame in frames:
            self.on_frame(frame)
            tick = self._monotonic()
            if tick >= self._next_upload and self.queue.pending_count():
                self.upload()
            if tick >= self._next_sync:
                self.sync()
        self.upload()
        self.report.pending = self.queue.pending_count()
        return self.report
