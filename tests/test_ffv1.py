"""FFV1DepthExtractor: lossless 16-bit depth video read with PyAV (no ffmpeg binary).

Fixtures are written with PyAV directly (not with this package's writer), the way moseq2's
convert-raw-to-avi writes them: FFV1 gray16le, level 3, 24 slices with CRCs, a keyframe every
``g`` frames.
"""

from __future__ import annotations

import json
import pickle
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from depthextractors import CameraModel, find_depth_file, open_depth_video
from depthextractors.extractors import ffv1 as ffv1_module
from depthextractors.extractors.ffv1 import FFV1DepthExtractor
from depthextractors.testing import check_depth_extractor, synthesize_depth_video

SMALL_CAMERA = CameraModel("test_64x80", "kinect", (64, 80), (70.6, 60.0))
KEYFRAME_INTERVAL = 30


def write_ffv1(
    path: Path,
    video: np.ndarray,
    *,
    container_format: str | None = None,
    rate: int = 30,
    pts: np.ndarray | None = None,
    time_base: Fraction | None = None,
    pixel_format: str = "gray16le",
    keyframe_interval: int = KEYFRAME_INTERVAL,
) -> Path:
    """Write ``video`` as FFV1 with PyAV; ``pts`` in ``time_base`` (default frame indices)."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], pixel_format
        stream.codec_context.options = {
            "level": "3",
            "slices": "24",
            "slicecrc": "1",
            "g": str(keyframe_interval),
        }
        if time_base is not None:
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
        source_format = "gray16le" if pixel_format.startswith("gray16") else "gray"
        for index, image in enumerate(video):
            frame = av.VideoFrame.from_ndarray(image, format=source_format)
            frame.pts = int(pts[index]) if pts is not None else index
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def small_video(frames: int, seed: int = 0) -> np.ndarray:
    video, _ = synthesize_depth_video(frames, camera=SMALL_CAMERA, seed=seed)
    return video


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """3,000 frames of 64x80 in .avi, a keyframe every 30 frames."""
    video = small_video(3000, seed=1)
    path = write_ffv1(tmp_path_factory.mktemp("ffv1") / "depth.avi", video)
    return path, video


@pytest.fixture(scope="module")
def short_avi(tmp_path_factory) -> tuple[Path, np.ndarray]:
    video = small_video(100, seed=2)
    path = write_ffv1(tmp_path_factory.mktemp("short") / "depth.avi", video)
    return path, video


# ------------------------------------------------------------------------------ conformance
@pytest.mark.parametrize("suffix", [".avi", ".mkv", ".nut"])
def test_conformance_in_each_container(tmp_path, suffix):
    video = small_video(75, seed=3)
    path = write_ffv1(tmp_path / f"depth{suffix}", video)
    extractor = FFV1DepthExtractor(path, camera=SMALL_CAMERA)
    assert extractor.get_num_frames() == 75
    assert extractor.get_image_size() == (64, 80)
    check_depth_extractor(extractor, video)


def test_long_video_random_access_equals_sequential(long_video):
    path, video = long_video
    sequential = np.concatenate(
        [chunk.frames for chunk in FFV1DepthExtractor(path).iter_chunks(250)]
    )
    assert np.array_equal(sequential, video)
    extractor = FFV1DepthExtractor(path)
    indices = np.random.default_rng(11).integers(0, video.shape[0], 200)
    for index in indices:
        assert np.array_equal(extractor.get_video(int(index), int(index) + 1)[0], sequential[index])
    assert np.array_equal(extractor.get_frames(indices), sequential[indices])


def test_long_video_header_index_needs_no_counting(long_video, monkeypatch):
    """An intact .avi carries its own index: opening it must not scan the packets."""
    path, video = long_video

    def fail(*args, **kwargs):
        raise AssertionError("packets were counted although the AVI index is complete")

    monkeypatch.setattr(ffv1_module, "count_packets", fail)
    extractor = FFV1DepthExtractor(path)
    assert extractor.get_num_frames() == video.shape[0]
    assert list(extractor.keyframe_indices[:3]) == [0, 30, 60]


def test_real_size_frames(tmp_path):
    video, _ = synthesize_depth_video(70, camera="kinect_v2", seed=4)
    path = write_ffv1(tmp_path / "depth.avi", video, keyframe_interval=10)
    extractor = FFV1DepthExtractor(path)
    assert extractor.get_image_size() == (424, 512)
    assert extractor.camera.name == "kinect_v2"
    sequential = extractor.get_video()
    assert np.array_equal(sequential, video)
    indices = np.random.default_rng(5).permutation(70)[:25]
    fresh = FFV1DepthExtractor(path)
    for index in indices:
        assert np.array_equal(fresh.get_video(int(index), int(index) + 1)[0], video[index])


def test_sequential_reads_do_not_seek(short_avi, monkeypatch):
    path, video = short_avi
    extractor = FFV1DepthExtractor(path)
    seeks = []
    original = FFV1DepthExtractor._seek_to_keyframe

    def counting(self, rank):
        seeks.append(rank)
        return original(self, rank)

    monkeypatch.setattr(FFV1DepthExtractor, "_seek_to_keyframe", counting)
    pieces = [extractor.get_video(start, start + 10) for start in range(0, 100, 10)]
    assert np.array_equal(np.concatenate(pieces), video)
    assert len(seeks) == 1
    # A jump back needs a seek, to the keyframe at or before the frame.
    assert np.array_equal(extractor.get_video(45, 47), video[45:47])
    assert seeks[-1] == 1  # keyframe 30
    # Skipping forward within the same group of frames decodes on without a seek.
    assert np.array_equal(extractor.get_video(50, 52), video[50:52])
    assert len(seeks) == 2


def test_pickle_after_reading(short_avi):
    path, video = short_avi
    extractor = FFV1DepthExtractor(path)
    extractor.get_video(0, 10)
    clone = pickle.loads(pickle.dumps(extractor))
    assert np.array_equal(clone.get_video(10, 20), video[10:20])
    assert np.array_equal(extractor.get_video(10, 20), video[10:20])


@pytest.mark.parametrize("threads", [1, 2])
def test_decoder_threads_give_identical_frames(short_avi, threads):
    path, video = short_avi
    extractor = FFV1DepthExtractor(path, threads=threads)
    assert np.array_equal(extractor.get_video(), video)
    assert np.array_equal(extractor.get_frames([99, 3, 64]), video[[99, 3, 64]])


# ------------------------------------------------------------------------------ timestamps
def test_avi_times_are_frame_indices_over_rate(short_avi):
    path, _ = short_avi
    extractor = FFV1DepthExtractor(path)
    assert extractor.time_base == Fraction(1, 30)
    assert extractor.get_sampling_frequency() == 30.0
    np.testing.assert_allclose(extractor.get_timestamps(), np.arange(100) / 30.0)


def test_mkv_times_from_pts_not_from_rate(tmp_path):
    """Irregular pts in a millisecond time base: times and frame order follow the pts."""
    video = small_video(40, seed=6)
    pts_ms = 500 + np.cumsum(np.r_[0, np.full(39, 33)]) + np.r_[np.zeros(20), np.full(20, 66)]
    path = write_ffv1(
        tmp_path / "depth.mkv", video, pts=pts_ms.astype(np.int64), time_base=Fraction(1, 1000)
    )
    extractor = FFV1DepthExtractor(path)
    assert extractor.get_num_frames() == 40
    np.testing.assert_allclose(extractor.get_timestamps(), pts_ms / 1000.0)
    assert np.array_equal(extractor.get_frames([25, 19, 20, 0]), video[[25, 19, 20, 0]])


def test_timestamp_file_beside_the_video(tmp_path):
    video = small_video(30, seed=7)
    path = write_ffv1(tmp_path / "depth.avi", video)
    times_ms = 1_000_000.0 + np.arange(30) * 33.3 + np.r_[np.zeros(15), np.full(15, 33.3)]
    np.savetxt(tmp_path / "depth_ts.txt", np.column_stack([times_ms, np.zeros(30)]), fmt="%.4f")
    extractor = FFV1DepthExtractor(path)
    np.testing.assert_allclose(extractor.get_timestamps(), times_ms / 1000.0)
    assert FFV1DepthExtractor(path, timestamps_path=None).get_timestamps()[1] == pytest.approx(
        1 / 30
    )
    np.savetxt(tmp_path / "depth_ts.txt", times_ms[:20])
    with pytest.warns(UserWarning, match="20 timestamps but .* 30 frames"):
        short = FFV1DepthExtractor(path)
    np.testing.assert_allclose(short.get_timestamps(), np.arange(30) / 30.0)


# ------------------------------------------------------------------------------ camera
def test_camera_from_metadata_and_override(tmp_path):
    video = small_video(3)
    path = write_ffv1(tmp_path / "depth.avi", video)
    assert FFV1DepthExtractor(path).camera.name == "unknown"
    assert FFV1DepthExtractor(path, camera=SMALL_CAMERA).camera is SMALL_CAMERA

    real_size = np.full((2, 288, 320), 700, dtype=np.uint16)
    path = write_ffv1(tmp_path / "azure.avi", real_size)
    assert FFV1DepthExtractor(path).camera.name == "azure_nfov_binned"
    (tmp_path / "metadata.json").write_text(json.dumps({"CameraType": "azure_nfov_binned"}))
    assert FFV1DepthExtractor(path).get_metadata()["CameraType"] == "azure_nfov_binned"


def test_ir_video_is_never_taken_for_depth(tmp_path):
    video = small_video(3)
    write_ffv1(tmp_path / "ir.avi", video)
    write_ffv1(tmp_path / "depth.avi", video)
    assert find_depth_file(tmp_path).name == "depth.avi"
    assert isinstance(open_depth_video(tmp_path), FFV1DepthExtractor)


# ------------------------------------------------------------------------------ bad input
def test_eight_bit_video_is_refused(tmp_path):
    video = (small_video(3) % 256).astype(np.uint8)
    path = write_ffv1(tmp_path / "preview.avi", video, pixel_format="gray")
    with pytest.raises(ValueError, match=r"preview\.avi: the video stream is ffv1 gray, expected"):
        FFV1DepthExtractor(path)


def test_file_without_video_stream_is_refused(tmp_path):
    path = tmp_path / "audio.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(
        ValueError, match=r"audio\.mkv has no video stream \(streams found: audio\)"
    ):
        FFV1DepthExtractor(path)


def test_empty_and_non_video_files(tmp_path):
    empty = tmp_path / "depth.avi"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"depth\.avi is empty \(0 bytes\)"):
        FFV1DepthExtractor(empty)
    text = tmp_path / "notes.avi"
    text.write_text("not a video\n" * 100)
    with pytest.raises(ValueError, match=r"notes\.avi is not a video file"):
        FFV1DepthExtractor(text)
    with pytest.raises(FileNotFoundError, match="missing"):
        FFV1DepthExtractor(tmp_path / "missing.avi")


def test_truncated_avi(short_avi, tmp_path):
    path, video = short_avi
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.avi: the header promises 100 frames but .* holds"):
        FFV1DepthExtractor(cut)
    with pytest.warns(UserWarning, match="cut short"):
        extractor = FFV1DepthExtractor(cut, allow_truncated=True)
    count = extractor.get_num_frames()
    assert 20 < count < 100
    assert np.array_equal(extractor.get_video(), video[:count])


def test_truncated_mkv_without_index(tmp_path):
    """Matroska has no frame count in its header; its declared size shows the cut."""
    video = small_video(60, seed=8)
    path = write_ffv1(tmp_path / "depth.mkv", video)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(ValueError, match=r"cut\.mkv holds \d+ bytes but its Matroska header says"):
        FFV1DepthExtractor(cut)
    with pytest.warns(UserWarning, match="truncated"):
        extractor = FFV1DepthExtractor(cut, allow_truncated=True)
    count = extractor.get_num_frames()
    assert 20 < count < 60
    assert np.array_equal(extractor.get_video(), video[:count])


def test_corrupt_frame_raises_with_file_and_frame(short_avi, tmp_path):
    path, video = short_avi
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
        position, size = packets[45].pos, packets[45].size
    damaged = bytearray(path.read_bytes())
    for offset in range(position + size // 3, position + size // 3 + 40):
        damaged[offset] ^= 0x5A
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(damaged))
    extractor = FFV1DepthExtractor(bad)
    with pytest.raises(OSError, match=r"bad\.avi: frame 45 is corrupt \(an FFV1 slice CRC"):
        extractor.get_video(40, 50)
    # Frames before the damage still read correctly, and later keyframe groups too.
    assert np.array_equal(extractor.get_video(0, 40), video[:40])
    assert np.array_equal(extractor.get_video(60, 100), video[60:])
    with pytest.raises(OSError, match=r"frame 45"):
        extractor.get_video()
    # Without the CRC check, the decoder either stops or conceals the damage with wrong pixels.
    unchecked = FFV1DepthExtractor(bad, check_slice_crcs=False)
    try:
        concealed = unchecked.get_video(40, 50)
    except OSError:
        return
    assert not np.array_equal(concealed, video[40:50])


def test_reading_never_hangs_or_pads_past_the_end(short_avi):
    path, video = short_avi
    extractor = FFV1DepthExtractor(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert extractor.get_video(95, 1000).shape[0] == 5
    assert np.array_equal(extractor.get_video(-3), video[-3:])


def test_reads_from_several_threads(short_avi):
    from concurrent.futures import ThreadPoolExecutor

    path, video = short_avi
    extractor = FFV1DepthExtractor(path)
    starts = np.random.default_rng(9).integers(0, 90, 40)
    with ThreadPoolExecutor(4) as pool:
        blocks = list(pool.map(lambda s: extractor.get_video(int(s), int(s) + 10), starts))
    for start, block in zip(starts, blocks, strict=True):
        assert np.array_equal(block, video[start : start + 10])
