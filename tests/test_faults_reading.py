"""Faults in what is read (issue 14): damaged data is one clear error, never data.

Each compressed format is damaged at several offsets (bytes flipped); reading the recording
(opening, its times and metadata, every frame) must then either raise one
:class:`CorruptRecordingError` naming the file and what to do, or give exactly the data of the
intact file (a byte no one reads, such as padding). Then the other categories: damaged side
files, ``ir.*`` and non-depth tracks, cut bags, ranges past the recording.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from depthextractors import (
    AzureDepthExtractor,
    FFV1DepthExtractor,
    NumpyDepthExtractor,
    RawDepthExtractor,
    RealSenseBagExtractor,
    TarSessionExtractor,
    write_ffv1_video,
)
from depthextractors.extractors import TIMESTAMPS_MADE_UP, CorruptRecordingError
from depthextractors.testing import write_azure_like_mkv
from test_realsense import make_frames, write_bag

ROWS, COLS = 48, 64
FRAMES = 40
# Where bytes are flipped, as fractions of the file: header, body and tail of each format.
SPOTS = (0.02, 0.15, 0.35, 0.55, 0.75, 0.95, 0.995)


def _video(frames: int = FRAMES, seed: int = 0) -> np.ndarray:
    """Smooth depth with noise: compressible like real depth, so damage can decompress."""
    rng = np.random.default_rng(seed)
    base = 600 + np.add.outer(np.arange(ROWS), np.arange(COLS)).astype(np.uint16)
    return (base + rng.integers(0, 8, size=(frames, ROWS, COLS))).astype(np.uint16)


def _flip(data: bytes, fraction: float, count: int = 16) -> bytes:
    damaged = bytearray(data)
    start = min(int(len(data) * fraction), len(data) - count)
    for offset in range(start, start + count):
        damaged[offset] ^= 0xFF
    return bytes(damaged)


def _read_everything(extractor_class, path: Path, **kwargs) -> tuple:
    """Open, then read times, metadata and every frame, as an extraction does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = extractor_class(path, **kwargs)
        times = extractor.get_timestamps()
        metadata = extractor.get_metadata()
        return extractor.get_video(), times, metadata


def _assert_error_or_intact(extractor_class, damaged: Path, intact: tuple, **kwargs) -> str:
    """Reading ``damaged`` raises CorruptRecordingError naming it, or gives the intact data."""
    try:
        video, times, metadata = _read_everything(extractor_class, damaged, **kwargs)
    except CorruptRecordingError as error:
        message = str(error)
        assert str(damaged) in message
        assert "copy" in message.lower()  # what to do: copy it again (or convert it again)
        return message
    np.testing.assert_array_equal(video, intact[0])
    np.testing.assert_array_equal(times, intact[1])
    assert json.dumps(metadata, sort_keys=True, default=str) == json.dumps(
        intact[2], sort_keys=True, default=str
    )
    return "intact"


# ------------------------------------------------------------------------------ .tar.gz
def _tar_gz(path: Path, video: np.ndarray, members=("depth.dat", "depth_ts.txt", "metadata.json"),
            level: int = 6) -> Path:  # fmt: skip
    times = "".join(f"{1000 + 33.3 * k:.1f} 0\n" for k in range(len(video)))
    metadata = {"SubjectName": "m1", "DepthResolution": [COLS, ROWS]}
    files = {
        "depth.dat": video.astype("<u2").tobytes(),
        "depth_ts.txt": times.encode(),
        "metadata.json": json.dumps(metadata).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in members:
            info = tarfile.TarInfo(f"session/{name}")
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=level))
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = _tar_gz(tmp_path_factory.mktemp("tar") / "session.tar.gz", _video())
    return path, _read_everything(TarSessionExtractor, path)


@pytest.mark.parametrize("spot", SPOTS)
def test_a_damaged_archive_is_an_error_never_data(archive, tmp_path, spot):
    """The issue's case: flipped bytes used to give frames of garbage and made-up times."""
    path, intact = archive
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(_flip(path.read_bytes(), spot))
    message = _assert_error_or_intact(TarSessionExtractor, damaged, intact)
    if message != "intact":
        assert "gzip" in message or "tar header" in message


def test_archive_damage_is_found_before_any_frame_when_the_side_files_follow(archive, tmp_path):
    path, _ = archive
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(_flip(path.read_bytes(), 0.4))
    with pytest.raises(CorruptRecordingError, match=r"fails gzip's CRC-32 check.*gzip -t"):
        TarSessionExtractor(damaged)  # the frame size is in metadata.json, after the frames
    extractor = TarSessionExtractor(damaged, frame_size=(ROWS, COLS))
    with pytest.raises(CorruptRecordingError, match=r"fails gzip's CRC-32 check.*gzip -t"):
        extractor.get_timestamps()


def test_archive_damage_in_frames_read_first_fails_at_the_last_frame(tmp_path):
    """Side files first: frames decompress before the check, which the last read makes."""
    path = _tar_gz(tmp_path / "s.tar.gz", _video(), members=("metadata.json", "depth_ts.txt",
                                                              "depth.dat"))  # fmt: skip
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(_flip(path.read_bytes(), 0.5))
    extractor = TarSessionExtractor(damaged)
    extractor.get_timestamps()
    with pytest.raises(CorruptRecordingError, match="CRC-32"):
        for _ in extractor.iter_chunks(7):
            pass
    with pytest.raises(CorruptRecordingError, match="CRC-32"):
        TarSessionExtractor(damaged).verify()
    TarSessionExtractor(path).verify()


def test_a_damaged_tar_header_is_not_the_end_of_the_archive(tmp_path):
    """tarfile takes a bad header for the end and would drop depth_ts.txt and metadata.json."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("depth.dat", _video(4).tobytes()), ("depth_ts.txt", b"0\n1\n2\n3\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = bytearray(buffer.getvalue())
    data[4 * ROWS * COLS * 2 + 512 + 3] ^= 0xFF  # the name in depth_ts.txt's header
    path = tmp_path / "bad_header.tar.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    extractor = TarSessionExtractor(path, frame_size=(ROWS, COLS), sampling_frequency=30)
    with pytest.raises(CorruptRecordingError, match=r"the tar header at uncompressed byte \d+"):
        extractor.get_timestamps()


def test_a_damaged_first_gzip_member_is_found(tmp_path):
    raw = io.BytesIO()
    _tar_gz(tmp_path / "plain.tar.gz", _video())
    raw.write(gzip.decompress((tmp_path / "plain.tar.gz").read_bytes()))
    data = raw.getvalue()
    first = gzip.compress(data[: len(data) // 2])
    path = tmp_path / "members.tar.gz"
    path.write_bytes(_flip(first, 0.5) + gzip.compress(data[len(data) // 2 :]))
    with pytest.raises(CorruptRecordingError, match="CRC-32"):
        _read_everything(TarSessionExtractor, path)


def test_an_archive_cut_after_its_frames_is_truncated_not_corrupt(archive, tmp_path):
    path, _ = archive
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(OSError, match="truncated") as caught:
        _read_everything(TarSessionExtractor, cut)
    assert not isinstance(caught.value, CorruptRecordingError)


# ------------------------------------------------------------------------------ FFV1 .avi/.mkv
@pytest.fixture(scope="module", params=[".avi", ".mkv"])
def ffv1_video(request, tmp_path_factory):
    """FFV1 as convert-raw-to-avi writes it, and in Matroska (with Cluster CRC-32s)."""
    path = tmp_path_factory.mktemp("ffv1") / f"depth{request.param}"
    write_ffv1_video(NumpyDepthExtractor(_video(), 30.0), path, keyframe_interval=10,
                     progress=False)  # fmt: skip
    return path, _read_everything(FFV1DepthExtractor, path)


@pytest.fixture(scope="module")
def avi_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("avi") / "depth.avi"
    write_ffv1_video(NumpyDepthExtractor(_video(), 30.0), path, keyframe_interval=10,
                     progress=False)  # fmt: skip
    return path, _read_everything(FFV1DepthExtractor, path)


@pytest.mark.parametrize("spot", SPOTS)
def test_a_damaged_ffv1_video_is_an_error_never_data(ffv1_video, tmp_path, spot):
    path, intact = ffv1_video
    damaged = tmp_path / f"damaged{path.suffix}"
    damaged.write_bytes(_flip(path.read_bytes(), spot))
    _assert_error_or_intact(FFV1DepthExtractor, damaged, intact)


def test_damage_to_the_first_frame_leaves_the_slice_crcs_checked(avi_video, tmp_path):
    """The checks used to be switched off when the first packet failed them."""
    path, _ = avi_video
    data = path.read_bytes()
    first = data.index(b"00dc", data.index(b"movi")) + 8 + 200  # inside frame 0's data
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(data[:first] + bytes([data[first] ^ 0xFF]) + data[first + 1 :])
    with pytest.raises(CorruptRecordingError, match=r"frame 0 is corrupt .*slice CRC"):
        FFV1DepthExtractor(damaged).get_video(0, 1)


def _idx1_entries(data: bytes) -> int:
    """File offset of the first idx1 entry of an AVI."""
    return data.rindex(b"idx1") + 8


def test_a_damaged_avi_index_is_not_reported_as_truncated(avi_video, tmp_path):
    path, intact = avi_video
    data = bytearray(path.read_bytes())
    # Entry of frame 20 (a keyframe): its chunk offset points into the frame before it.
    offset_field = _idx1_entries(data) + 20 * 16 + 8
    value = int.from_bytes(data[offset_field : offset_field + 4], "little")
    data[offset_field : offset_field + 4] = (value - 301).to_bytes(4, "little")
    damaged = tmp_path / "damaged_index.avi"
    damaged.write_bytes(bytes(data))
    message = None
    try:
        extractor = FFV1DepthExtractor(damaged)
        # Random access goes through the damaged entry: right frames, or an error.
        frames = extractor.get_frames([23, 5, 21])
    except CorruptRecordingError as error:
        message = str(error)
    if message is None:
        np.testing.assert_array_equal(frames, intact[0][[23, 5, 21]])
    else:
        assert "truncated" not in message
        assert "index" in message
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated|cut short"):
        FFV1DepthExtractor(cut)


# ------------------------------------------------------------------------------ Azure .mkv
@pytest.fixture(scope="module")
def azure_recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("azure") / "recording.mkv"
    write_azure_like_mkv(path, _video(FRAMES, seed=3), cluster_crc=True)
    return path, _read_everything(AzureDepthExtractor, path)


@pytest.mark.parametrize("spot", SPOTS)
def test_a_damaged_azure_recording_is_an_error_never_data(azure_recording, tmp_path, spot):
    path, intact = azure_recording
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(_flip(path.read_bytes(), spot))
    message = _assert_error_or_intact(AzureDepthExtractor, damaged, intact)
    if spot >= 0.15:  # in the Clusters
        assert "CRC-32" in message or "Cluster" in message


def test_azure_cluster_damage_names_the_frames_and_can_be_skipped(azure_recording, tmp_path):
    path, intact = azure_recording
    data = bytearray(path.read_bytes())
    frame_20 = data.index(intact[0][20].astype(">u2").tobytes())
    data[frame_20 + 100] ^= 0xFF
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data))
    extractor = AzureDepthExtractor(damaged)
    with pytest.raises(CorruptRecordingError, match=r"fails its CRC-32 check.* DEPTH frame 20,"):
        extractor.get_video()
    # The escape hatch for files checked otherwise reads what is there.
    unchecked = AzureDepthExtractor(damaged, check_crcs=False).get_video()
    assert unchecked.shape == intact[0].shape
    assert not np.array_equal(unchecked, intact[0])


def test_a_frame_hidden_by_damage_is_not_taken_for_a_dropped_frame(azure_recording, tmp_path):
    """A damaged track number hides a frame; the gap it leaves must not pass as a drop."""
    path, _ = azure_recording
    data = bytearray(path.read_bytes())
    depth_block = data.index(b"\xa3", data.index(b"\x1f\x43\xb6\x75", len(data) // 2))
    track_byte = depth_block + 9 + 16  # a SimpleBlock of COLOR: 0xA3, 8-byte size, track number
    while data[track_byte] != 0x82:  # find the DEPTH block (track 2) of that capture
        track_byte += 1
    data[track_byte] = 0x85  # no such track
    damaged = tmp_path / "hidden.mkv"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordingError, match="no readable DEPTH frame"):
        AzureDepthExtractor(damaged)


# ------------------------------------------------------------------------------ RealSense .bag
@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("bag") / "session.bag"
    frames = make_frames(12, ROWS, COLS)
    write_bag(path, frames, 1_700_000_000.0 + np.arange(12) / 30.0, chunk_threshold=20_000)
    return path, _read_everything(RealSenseBagExtractor, path)


@pytest.mark.parametrize("spot", SPOTS)
def test_a_damaged_bag_is_an_error_never_data(bag, tmp_path, spot):
    path, intact = bag
    damaged = tmp_path / "damaged.bag"
    damaged.write_bytes(_flip(path.read_bytes(), spot))
    _assert_error_or_intact(RealSenseBagExtractor, damaged, intact)


def test_damaged_bag_chunks_and_index_name_what_is_hit(bag, tmp_path):
    path, _ = bag
    data = path.read_bytes()
    damaged = tmp_path / "chunk.bag"
    damaged.write_bytes(_flip(data, 0.3, count=4))
    with pytest.raises(CorruptRecordingError, match=r"the chunk at byte \d+ .*is corrupt"):
        _read_everything(RealSenseBagExtractor, damaged)
    damaged.write_bytes(_flip(data, 0.999, count=2))  # the index at the end of the bag
    with pytest.raises(CorruptRecordingError, match="index"):
        _read_everything(RealSenseBagExtractor, damaged)


def test_a_cut_unindexed_bag_says_it_was_cut(tmp_path):
    path = tmp_path / "unfinished.bag"
    write_bag(path, make_frames(12, ROWS, COLS), 1_700_000_000.0 + np.arange(12) / 30.0,
              chunk_threshold=20_000)  # fmt: skip
    data = bytearray(path.read_bytes())
    data[data.index(b"index_pos=") + 10 : data.index(b"index_pos=") + 18] = bytes(8)
    cut = tmp_path / "cut.bag"
    cut.write_bytes(bytes(data[: int(len(data) * 0.1)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one error, no warning before it
        with pytest.raises(ValueError, match=r"was cut short.*before any whole depth frame"):
            RealSenseBagExtractor(cut)


# ------------------------------------------------------------------------------ side files
def _raw_session(directory: Path, frames: int = 6) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "depth.dat"
    _video(frames).astype("<u2").tofile(path)
    return path


def test_bad_timestamp_lines_are_repaired_one_by_one(tmp_path):
    path = _raw_session(tmp_path, frames=40)
    lines = [f"{1000 + 33 * k} 0" for k in range(40)]
    lines[7], lines[20] = "1*31 0", "-5 0"  # unreadable; going backwards
    (tmp_path / "depth_ts.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"2 of its 40 timestamps .*line 8 .*line 21 .*interp"):
        video = RawDepthExtractor(path, frame_size=(ROWS, COLS))
    np.testing.assert_allclose(video.get_timestamps(), (1000 + 33 * np.arange(40)) / 1000)
    assert video.timestamps_source == "depth_ts.txt"


def test_a_line_too_many_is_dropped_where_it_is(tmp_path):
    path = _raw_session(tmp_path, frames=10)
    lines = [f"{1000 + 33 * k}" for k in range(10)]
    lines.insert(4, "garbage")
    (tmp_path / "depth_ts.txt").write_text("\n".join(lines))
    with pytest.warns(UserWarning, match=r"11 lines for the 10 frames.*line 5 .*dropped"):
        video = RawDepthExtractor(path, frame_size=(ROWS, COLS))
    np.testing.assert_allclose(video.get_timestamps(), (1000 + 33 * np.arange(10)) / 1000)


def test_made_up_times_are_said_so(tmp_path):
    path = _raw_session(tmp_path, frames=10)
    assert RawDepthExtractor(path, frame_size=(ROWS, COLS), sampling_frequency=30
                             ).timestamps_source == TIMESTAMPS_MADE_UP  # fmt: skip
    (tmp_path / "depth_ts.txt").write_text("\n".join(["x"] * 5 + ["1", "2", "3", "4", "5"]))
    with pytest.warns(UserWarning, match="5 of its 10 .*too many to repair; frame times will be"):
        video = RawDepthExtractor(path, frame_size=(ROWS, COLS), sampling_frequency=30)
    assert video.timestamps_source == "made up from the frame rate"
    assert video.frame_slice(2, 5).timestamps_source == "made up from the frame rate"
    video.set_times(np.arange(10) * 0.1)
    assert video.timestamps_source == "set with set_times"
    given = NumpyDepthExtractor(_video(3), 30.0, timestamps=[0.0, 0.1, 0.2])
    assert given.timestamps_source == "given"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_side_files_written_by_windows_tools_are_read(tmp_path, encoding):
    path = _raw_session(tmp_path)
    metadata = {"SubjectName": "mouse é", "DepthResolution": [COLS, ROWS]}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata), encoding=encoding)
    (tmp_path / "depth_ts.txt").write_text("".join(f"{10 * k}\n" for k in range(6)),
                                           encoding=encoding)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        video = RawDepthExtractor(path)
    assert video.get_metadata() == metadata
    assert video.get_image_size() == (ROWS, COLS)
    np.testing.assert_allclose(video.get_timestamps(), np.arange(6) / 100)


def test_metadata_with_a_bom_inside_an_archive(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("depth.dat", _video(3).tobytes()),
                           ("metadata.json", b"\xef\xbb\xbf" + json.dumps(
                               {"DepthResolution": [COLS, ROWS]}).encode())):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "bom.tar.gz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    assert TarSessionExtractor(path, sampling_frequency=30).get_image_size() == (ROWS, COLS)


def test_infrared_files_and_tracks_are_refused_unless_asked_for(tmp_path):
    ir = tmp_path / "ir.dat"
    _video(2).tofile(ir)
    with pytest.raises(ValueError, match=r"named as an infrared recording.*allow_ir=True"):
        RawDepthExtractor(ir, frame_size=(ROWS, COLS))
    assert RawDepthExtractor(ir, frame_size=(ROWS, COLS), allow_ir=True,
                             sampling_frequency=30).get_num_frames() == 2  # fmt: skip
    ir_avi = write_ffv1_video(NumpyDepthExtractor(_video(2), 30.0), tmp_path / "IR.avi",
                              progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="infrared"):
        FFV1DepthExtractor(ir_avi)
    assert FFV1DepthExtractor(ir_avi, allow_ir=True).get_num_frames() == 2


def test_a_generic_mkv_whose_track_is_titled_ir_is_refused(tmp_path):
    import av

    path = tmp_path / "video.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = COLS, ROWS, "gray16le"
        stream.metadata["title"] = "IR"
        for image in _video(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="gray16le")))
        container.mux(stream.encode(None))
    with pytest.raises(ValueError, match=r"titled 'IR', not depth.*track='IR'"):
        FFV1DepthExtractor(path)
    np.testing.assert_array_equal(FFV1DepthExtractor(path, track="IR").get_video(), _video(3))


# ------------------------------------------------------------------------------ ranges
def test_a_slice_past_the_recording_says_by_how_much():
    video = NumpyDepthExtractor(_video(10), 30.0)
    with pytest.warns(UserWarning, match=r"frame_slice\(5, 25\) on a video of 10 frames: "
                      r"end_frame 25 is 15 frames past the end"):  # fmt: skip
        view = video.frame_slice(5, 25)
    assert view.get_num_frames() == 5
    with pytest.warns(UserWarning, match="start_frame -14 reaches 4 frames before the first"):
        assert video.frame_slice(-14).get_num_frames() == 10
    with pytest.raises(ValueError, match=r"start_frame 12 lies past the end .* 10 frames"):
        video.frame_slice(12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert video.frame_slice(10).get_num_frames() == 0  # the end itself: an empty view
        assert video.frame_slice(-10, 10).get_num_frames() == 10
