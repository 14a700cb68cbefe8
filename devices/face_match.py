"""1:N face matching over one project's templates, vectorised with numpy (decision 5).

A `FaceGallery` holds the project's templates as one (N, D) float32 matrix of L2-normalised rows
and their worker ids; `match(probe)` is one matrix-vector product and an argmax, `match_many`
one matrix product for a batch of probes. The best score at or above the threshold names the
worker; below it the probe is unknown (`worker_id is None`). Figures: docs/performance.md.

The product runs on one BLAS thread (threadpoolctl): it is bound by memory bandwidth, and
OpenBLAS's threads spin-wait for each other, so on a busy two-core machine two threads made a
10,000-template match ten times slower (14 ms against 1.3 ms), and they would take the core the
camera's face detection needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from devices.face_model import normalise

_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class FaceMatch:
    worker_id: Optional[int]            # None: nobody in the gallery is close enough
    score: float                        # the best cosine found

    @property
    def known(self) -> bool:
        return self.worker_id is not None


class FaceGallery:
    def __init__(self, worker_ids: Sequence[int], templates: np.ndarray, threshold: float):
        matrix = np.asarray(templates, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(worker_ids):
            raise ValueError("one template row per worker id is needed")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if matrix.shape[0] and not np.all(norms > 0):
            raise ValueError("a face template must be a non-zero vector")
        self._matrix = np.ascontiguousarray(matrix / np.where(norms > 0, norms, 1))
        self._ids = np.asarray(worker_ids, dtype=np.int64)
        self.threshold = float(threshold)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, np.ndarray]], threshold: float, dimension: int) -> "FaceGallery":
        pairs = list(pairs)
        matrix = np.stack([normalise(t) for _, t in pairs]) if pairs else np.zeros((0, dimension), np.float32)
        return cls([i for i, _ in pairs], matrix, threshold)

    def __len__(self) -> int:
        return len(self._ids)

    def match(self, probe: np.ndarray) -> FaceMatch:
        if not len(self._ids):
            return FaceMatch(None, -1.0)
        with _BLAS.limit(limits=1, user_api="blas"):
            scores = self._matrix @ normalise(probe)
        best = int(np.argmax(scores))
        return self._verdict(best, float(scores[best]))

    def match_many(self, probes: np.ndarray) -> list[FaceMatch]:
        probes = np.asarray(probes, dtype=np.float32)
        if not len(self._ids):
            return [FaceMatch(None, -1.0) for _ in probes]
        probes = probes / np.linalg.norm(probes, axis=1, keepdims=True)
        with _BLAS.limit(limits=1, user_api="blas"):
            scores = probes @ self._matrix.T
        best = np.argmax(scores, axis=1)
        return [self._verdict(int(b), float(scores[i, b])) for i, b in enumerate(best)]

    def _verdict(self, best: int, score: float) -> FaceMatch:
        return FaceMatch(int(self._ids[best]) if score >= self.threshold else None, score)
