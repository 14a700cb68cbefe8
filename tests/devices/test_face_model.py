"""The pluggable face model: the default loads offline from its wheels; YuNet/SFace need the operator's files."""
from __future__ import annotations

import pytest

from devices.face_model import FaceModel, FaceModelConfig, YuNetSFaceModel, load_face_model
from domain.face import FaceRefusal, FaceRefused
from tests.helpers.faces import face_model


def test_default_model_satisfies_the_protocol():
    assert isinstance(face_model(), FaceModel)
    assert face_model().dimension == 512


def test_yunet_sface_without_model_files_is_refused_clearly(tmp_path):
    detector = tmp_path / "face_detection_yunet_2023mar.onnx"
    detector.write_bytes(b"not really a model")
    for config, missing in [
        (FaceModelConfig(kind="yunet-sface"), "YuNet detector at (not configured)"),
        (FaceModelConfig(kind="yunet-sface", yunet_path=str(detector), sface_path=str(tmp_path / "sface.onnx")),
         f"SFace recogniser at {tmp_path / 'sface.onnx'}"),
    ]:
        with pytest.raises(FaceRefused) as caught:
            load_face_model(config)
        assert caught.value.code == FaceRefusal.MODEL_FILE_MISSING
        assert missing in caught.value.message


def test_model_choice_comes_from_the_environment():
    config = FaceModelConfig.from_env({"SHIMING_FACE_MODEL": "yunet-sface", "SHIMING_FACE_YUNET": "/m/y.onnx",
                                       "SHIMING_FACE_SFACE": "/m/s.onnx"})
    assert (config.kind, config.yunet_path, config.sface_path) == ("yunet-sface", "/m/y.onnx", "/m/s.onnx")
    assert FaceModelConfig.from_env({}).kind == "facenet"
    assert FaceModelConfig.from_env({}).match_threshold is None
    assert FaceModelConfig.from_env({"SHIMING_FACE_THRESHOLD": "0.62"}).match_threshold == 0.62
    for bad in ("high", "1.5"):
        with pytest.raises(ValueError, match="SHIMING_FACE_THRESHOLD"):
            FaceModelConfig.from_env({"SHIMING_FACE_THRESHOLD": bad})
    with pytest.raises(ValueError, match="unknown face model"):
        load_face_model(FaceModelConfig(kind="dlib"))
    assert YuNetSFaceModel.dimension == 128
