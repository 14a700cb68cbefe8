"""FrameSource: one way in for a camera index, a video file or a stream URL."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.face_clips import write_clip
from devices.camera import FrameSource, describe
from domain.face import FaceRefusal, FaceRefused


def test_video_file_gives_its_frames(tmp_path):
    frames = [np.full((120, 160, 3), 20 * i, np.uint8) for i in range(4)]
    clip = write_clip(tmp_path / "clip.avi", frames)
    with FrameSource.open(str(clip)) as source:
        read = list(source.frames())
    assert len(read) == 4 and read[0].shape == (120, 160, 3)
    assert [round(float(f.mean()) / 20) for f in read] == [0, 1, 2, 3]
    with FrameSource.open(str(clip)) as source:
        assert len(list(source.frames(limit=2))) == 2


def test_missing_video_file_is_refused(tmp_path):
    with pytest.raises(FaceRefused) as caught:
        FrameSource.open(str(tmp_path / "nothing.avi"))
    assert caught.value.code == FaceRefusal.CAMERA_UNAVAILABLE
    assert "nothing.avi does not exist" in caught.value.message


def test_unreachable_stream_is_refused_without_its_password():
    with pytest.raises(FaceRefused) as caught:
        FrameSource.open("rtsp://admin:s3cret@127.0.0.1:1/stream")   # nothing listens on port 1
    assert caught.value.code == FaceRefusal.CAMERA_UNAVAILABLE
    assert "s3cret" not in caught.value.message and "rtsp://127.0.0.1:1/stream" in caught.value.message


def test_sources_are_described_without_credentials():
    assert describe(0) == "camera 0" and describe("1") == "camera 1"
    assert describe("rtsp://u:p@gate-3.local:554/h264") == "rtsp://gate-3.local:554/h264"
    assert describe("/var/clips/enrol.avi") == "video file enrol.avi"
