"""Face verification on real photos of distinct people, and 1:N matching over a project's templates."""
from __future__ import annotations

import itertools
from functools import lru_cache

import cv2
import numpy as np
import pytest

from benchmarks.face_clips import load_photo
from devices.face_match import FaceGallery
from devices.face_model import template_from_bytes, template_to_bytes
from tests.helpers.faces import face_model

SAME_PERSON = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHERS = ("biden.jpg", "hanks.png")


def enlarged(name: str) -> np.ndarray:
    return cv2.resize(load_photo(name), None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=1)
def templates() -> dict[str, np.ndarray]:
    """One template per single-person photo, and one per face of the six-person group photo
    (scaled up by half, so every face has the 80 px an enrolment frame must have)."""
    model = face_model()
    found = {}
    for name in SAME_PERSON + OTHERS:
        photo = enlarged(name)
        (face,) = model.detect(photo)
        found[name] = model.template(photo, face)
    group = enlarged("group.jpg")
    faces = sorted(model.detect(group), key=lambda f: f.box[0])
    assert len(faces) == 6
    for i, face in enumerate(faces):
        found[f"group-{i}"] = model.template(group, face)
    return found


def test_templates_are_unit_float32_vectors():
    for template in templates().values():
        assert template.dtype == np.float32 and template.shape == (face_model().dimension,)
        assert float(np.linalg.norm(template)) == pytest.approx(1.0, abs=1e-5)


def test_same_person_scores_above_and_different_people_below_the_threshold():
    found, threshold = templates(), face_model().match_threshold
    same = [float(found[a] @ found[b]) for a, b in itertools.combinations(SAME_PERSON, 2)]
    different = [float(found[a] @ found[b]) for a, b in itertools.combinations(found, 2)
                 if not (a in SAME_PERSON and b in SAME_PERSON)]
    assert len(different) == 52
    assert min(same) >= threshold > max(different), (sorted(same), sorted(different)[-3:])


def test_one_to_n_names_the_worker_and_calls_a_stranger_unknown():
    found, threshold = templates(), face_model().match_threshold
    enrolled = {101: found["obama.jpg"], 102: found["biden.jpg"], 103: found["hanks.png"],
                **{200 + i: found[f"group-{i}"] for i in range(5)}}
    gallery = FaceGallery.from_pairs(enrolled.items(), threshold, face_model().dimension)
    assert gallery.match(found["obama2.jpg"]).worker_id == 101
    assert gallery.match(found["group-2"]).worker_id == 202
    stranger = gallery.match(found["group-5"])                  # the sixth person was never enrolled
    assert stranger.worker_id is None and not stranger.known and stranger.score < threshold
    batch = gallery.match_many(np.stack([found["obama3.jpg"], found["group-5"]]))
    assert [m.worker_id for m in batch] == [101, None]


def test_one_to_n_on_synthetic_templates_finds_each_probe():
    rng = np.random.default_rng(7)
    matrix = rng.standard_normal((1000, 512)).astype(np.float32)
    gallery = FaceGallery(list(range(5000, 6000)), matrix, threshold=0.5)
    probes = matrix[[3, 500, 999]] + 0.3 * rng.standard_normal((3, 512)).astype(np.float32)
    assert [m.worker_id for m in gallery.match_many(probes)] == [5003, 5500, 5999]
    assert gallery.match(rng.standard_normal(512)).worker_id is None
    assert FaceGallery([], np.zeros((0, 512), np.float32), 0.5).match(matrix[0]).worker_id is None


def test_template_bytes_round_trip():
    template = templates()["obama.jpg"]
    data = template_to_bytes(template)
    assert len(data) == 4 * face_model().dimension
    assert np.array_equal(template_from_bytes(data), template)
