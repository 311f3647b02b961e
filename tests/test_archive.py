"""TarSessionExtractor and GzipRandomAccessReader: moseq .tar.gz session archives read in place."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from depthextractors import (
    DepthVideoExtractor,
    RawDepthExtractor,
    TarSessionExtractor,
    open_depth_video,
)
from depthextractors.extractors.containers.gzip_index import GzipRandomAccessReader
from depthextractors.testing import check_depth_extractor, generate_synthetic_session

NUM_FRAMES = 240
FRAME_BYTES = 424 * 512 * 2


def tar_bytes(files: list[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar holding ``files`` in the given order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, compresslevel=1))
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A synthetic Kinect session, its files' bytes, and archives of it in two member orders."""
    directory = tmp_path_factory.mktemp("tar_session")
    synthetic = generate_synthetic_session(directory / "session_01", NUM_FRAMES, seed=5)
    contents = {
        name: (synthetic.directory / name).read_bytes()
        for name in ("depth.dat", "depth_ts.txt", "metadata.json")
    }
    side_first = tar_bytes(
        [(f"session_01/{name}", contents[name]) for name in ("metadata.json", "depth_ts.txt")]
        + [("session_01/depth.dat", contents["depth.dat"])]
    )
    # The order `tar` gives with sorted names: the frames come before the side files.
    depth_first = tar_bytes([(name, contents[name]) for name in sorted(contents)])
    return {
        "raw": RawDepthExtractor(synthetic.depth_path),
        "contents": contents,
        "side_first_tar": side_first,
        "side_first": write_gz(directory / "side_first.tar.gz", side_first),
        "depth_first": write_gz(directory / "depth_first.tar.gz", depth_first),
        "directory": directory,
    }


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------
def test_archive_passes_the_conformance_check_and_matches_the_raw_session(session):
    raw = session["raw"]
    extractor = TarSessionExtractor(session["side_first"])
    check_depth_extractor(extractor, raw.get_video())
    assert extractor.depth_member == "session_01/depth.dat"
    assert extractor.get_image_size() == raw.get_image_size()
    assert extractor.camera == raw.camera
    assert extractor.get_metadata() == raw.get_metadata()
    np.testing.assert_array_equal(extractor.get_timestamps(), raw.get_timestamps())
    assert extractor.get_sampling_frequency() == raw.get_sampling_frequency()
    assert isinstance(open_depth_video(session["side_first"]), TarSessionExtractor)


def test_opening_reads_the_headers_not_the_frames(session):
    archive_bytes = session["side_first"].stat().st_size
    extractor = TarSessionExtractor(session["side_first"])
    extractor.get_metadata()
    extractor.get_timestamps()
    assert extractor.reader.compressed_bytes_read < 0.05 * archive_bytes


def test_side_files_after_the_frames_are_read_only_when_needed(session):
    archive_bytes = session["depth_first"].stat().st_size
    extractor = TarSessionExtractor(session["depth_first"], camera="kinect_v2")
    assert extractor.reader.compressed_bytes_read < 0.05 * archive_bytes
    assert extractor.depth_member == "depth.dat"
    assert extractor.get_metadata() == session["raw"].get_metadata()
    np.testing.assert_array_equal(extractor.get_timestamps(), session["raw"].get_timestamps())
    # Without a camera or frame size, only metadata.json can give the size: read at opening.
    sized_from_metadata = TarSessionExtractor(session["depth_first"])
    assert sized_from_metadata.get_image_size() == (424, 512)
    expected = session["raw"].get_frames([0, -1])
    assert np.array_equal(sized_from_metadata.get_frames([0, -1]), expected)


@pytest.mark.parametrize("overlap", [0, 3])
def test_chunked_iteration_decompresses_the_archive_about_once(session, overlap):
    """The work bound, counted rather than timed: compressed bytes read and restarts."""
    archive_bytes = session["side_first"].stat().st_size
    extractor = TarSessionExtractor(session["side_first"])
    extractor.get_metadata()
    restarts_before = extractor.reader.restarts
    pieces = []
    for chunk in extractor.iter_chunks(25, overlap=overlap):
        assert chunk.num_overlap == min(overlap, chunk.start)
        pieces.append(chunk.new_frames)
    assert np.array_equal(np.concatenate(pieces), session["raw"].get_video())
    reader = extractor.reader
    # Opening, the side files and every chunk together: one pass over the compressed file.
    assert reader.compressed_bytes_read <= archive_bytes + 2 * reader._PIECE_BYTES
    assert reader.restarts - restarts_before <= 1


@pytest.mark.parametrize(
    ("chunk_size", "overlap", "start", "end"), [(2, 5, 3, 20), (7, 0, None, 30), (3, 3, 10, 40)]
)
def test_iter_chunks_gives_what_the_base_class_gives(session, chunk_size, overlap, start, end):
    extractor = TarSessionExtractor(session["side_first"])
    raw = session["raw"]
    ours = list(extractor.iter_chunks(chunk_size, overlap, start, end))
    reference = list(DepthVideoExtractor.iter_chunks(raw, chunk_size, overlap, start, end))
    assert [(c.start, c.end, c.read_start) for c in ours] == [
        (c.start, c.end, c.read_start) for c in reference
    ]
    for mine, theirs in zip(ours, reference, strict=True):
        assert np.array_equal(mine.frames, theirs.frames)


def test_random_access_restarts_from_a_nearby_checkpoint(session):
    archive_bytes = session["side_first"].stat().st_size
    extractor = TarSessionExtractor(session["side_first"], checkpoint_spacing_mb=4)
    for _ in extractor.iter_chunks(60):
        pass
    assert extractor.reader.num_checkpoints > 10
    before = extractor.reader.compressed_bytes_read
    indices = [200, 3, 150, 77]
    assert np.array_equal(extractor.get_frames(indices), session["raw"].get_frames(indices))
    # Each backward read decompresses at most one checkpoint interval, not the archive.
    assert extractor.reader.compressed_bytes_read - before < 0.25 * archive_bytes


def test_member_argument_and_dot_slash_names(session, tmp_path):
    contents = session["contents"]
    archive = write_gz(
        tmp_path / "named.tgz",
        tar_bytes([("./cam/metadata.json", contents["metadata.json"]),
                   ("./cam/front_depth.dat", contents["depth.dat"][: 10 * FRAME_BYTES])]),
    )  # fmt: skip
    extractor = TarSessionExtractor(archive, member="cam/front_depth.dat")
    assert extractor.get_num_frames() == 10
    assert extractor.get_metadata()["DepthResolution"] == [512, 424]
    assert np.array_equal(extractor.get_video(), session["raw"].get_video(0, 10))
    with pytest.warns(UserWarning, match="no usable timestamps"):
        assert extractor.get_sampling_frequency() == 30.0


def test_a_multi_member_gzip_reads_as_one_stream(session, tmp_path):
    contents = session["contents"]
    data = tar_bytes([("metadata.json", contents["metadata.json"]),
                      ("depth.dat", contents["depth.dat"][: 30 * FRAME_BYTES])])  # fmt: skip
    split = len(data) // 3 + 1234
    archive = tmp_path / "pigz_style.tar.gz"
    archive.write_bytes(gzip.compress(data[:split], 1) + gzip.compress(data[split:], 1))
    extractor = TarSessionExtractor(archive)
    indices = [0, 29, 11, 10]
    assert np.array_equal(extractor.get_frames(indices), session["raw"].get_frames(indices))


def test_gzip_reader_returns_exact_byte_ranges(session, tmp_path):
    data = session["side_first_tar"][: 20 * FRAME_BYTES]
    path = write_gz(tmp_path / "bytes.gz", data)
    reader = GzipRandomAccessReader(path, checkpoint_spacing=1 << 20)
    rng = np.random.default_rng(0)
    for _ in range(25):
        offset = int(rng.integers(0, len(data)))
        size = int(rng.integers(0, min(3 << 20, len(data) - offset) + 1))
        assert reader.read_at(offset, size) == data[offset : offset + size]
    with pytest.raises(EOFError, match="ends at byte"):
        reader.read_at(len(data) - 10, 11)
    reader.close()


# ----------------------------------------------------------------------------------------------
# Malformed input
# ----------------------------------------------------------------------------------------------
def test_an_empty_file_raises(tmp_path):
    path = tmp_path / "empty.tar.gz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.tar\.gz is empty \(0 bytes\)"):
        TarSessionExtractor(path)


def test_a_file_that_is_not_gzip_raises(tmp_path):
    path = tmp_path / "plain.tar.gz"
    path.write_bytes(tar_bytes([("depth.dat", b"\0" * FRAME_BYTES)]))
    with pytest.raises(ValueError, match=r"plain\.tar\.gz is not gzip-compressed"):
        TarSessionExtractor(path)


def test_gzip_data_that_is_not_a_tar_raises(tmp_path):
    path = write_gz(tmp_path / "notatar.tar.gz", b"just some text, not a tar archive\n" * 40)
    with pytest.raises(ValueError, match=r"notatar\.tar\.gz is not a readable tar archive"):
        TarSessionExtractor(path)


def test_a_tar_without_depth_dat_lists_what_it_holds(session, tmp_path):
    contents = session["contents"]
    path = write_gz(
        tmp_path / "nodepth.tar.gz",
        tar_bytes([("s/metadata.json", contents["metadata.json"]), ("s/notes.txt", b"hello")]),
    )
    with pytest.raises(ValueError, match="holds no depth recording") as error:
        TarSessionExtractor(path)
    message = str(error.value)
    assert "nodepth.tar.gz" in message
    assert "s/metadata.json" in message
    assert "s/notes.txt" in message


def test_a_depth_member_that_is_not_whole_frames_gives_byte_counts(session, tmp_path):
    contents = session["contents"]
    depth = contents["depth.dat"][: 3 * FRAME_BYTES + 1000]
    path = write_gz(
        tmp_path / "partial.tar.gz",
        tar_bytes([("metadata.json", contents["metadata.json"]), ("depth.dat", depth)]),
    )
    with pytest.raises(ValueError, match=rf"{len(depth)} bytes.*3 whole frames.*1000 extra bytes"):
        TarSessionExtractor(path)


def test_a_truncated_archive_raises_naming_the_frame(session, tmp_path):
    data = session["side_first"].read_bytes()
    path = tmp_path / "truncated.tar.gz"
    path.write_bytes(data[: len(data) // 2])
    extractor = TarSessionExtractor(path)  # the headers before the frames are intact
    with pytest.raises(OSError, match=r"truncated\.tar\.gz is truncated.*inside frame \d+"):
        for _ in extractor.iter_chunks(50):
            pass
    assert np.array_equal(extractor.get_frames(0), session["raw"].get_frames(0))


def test_an_archive_cut_before_its_depth_member_raises(session, tmp_path):
    path = tmp_path / "stub.tar.gz"
    path.write_bytes(session["depth_first"].read_bytes()[:40])
    with pytest.raises(ValueError, match=r"stub\.tar\.gz .*truncated"):
        TarSessionExtractor(path)


def test_side_files_cut_off_after_the_frames_raise_when_read(session, tmp_path):
    contents = session["contents"]
    short = dict(contents, **{"depth.dat": contents["depth.dat"][: 10 * FRAME_BYTES]})
    depth_first = tar_bytes([(name, short[name]) for name in sorted(short)])
    with tarfile.open(fileobj=io.BytesIO(depth_first)) as tar:
        metadata = tar.getmember("metadata.json")
    cut = depth_first[: metadata.offset_data + metadata.size // 2]
    path = tmp_path / "cut_tail.tar.gz"
    path.write_bytes(gzip.compress(cut, 1)[:-8])  # and no gzip trailer: a cut download
    extractor = TarSessionExtractor(path, camera="kinect_v2")
    with pytest.raises(ValueError, match=r"cut_tail\.tar\.gz .*truncated"):
        extractor.get_metadata()


def test_metadata_json_and_timestamps_are_used(session, tmp_path):
    contents = session["contents"]
    metadata = json.loads(contents["metadata.json"])
    metadata["DepthResolution"] = [256, 212]  # a quarter of the Kinect frame: 4 frames per frame
    path = write_gz(
        tmp_path / "resized.tar.gz",
        tar_bytes([("metadata.json", json.dumps(metadata).encode()),
                   ("depth.dat", contents["depth.dat"][: 2 * FRAME_BYTES])]),
    )  # fmt: skip
    extractor = TarSessionExtractor(path)
    assert extractor.get_image_size() == (212, 256)
    assert extractor.get_num_frames() == 8
    assert extractor.camera.name == "unknown"
    with pytest.warns(UserWarning, match="no usable timestamps"):
        frequency = extractor.get_sampling_frequency()
    assert frequency == 30.0
