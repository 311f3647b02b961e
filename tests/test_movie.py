"""The preview movie results_00.mp4: arena in false colour with the crop inset."""

import logging

import av
import numpy as np
import pytest

from depthextractors import open_depth_video, read_results
from depthextractors.batch import extract_session
from depthextractors.config import ExtractionConfig
from depthextractors.io import movie as movie_module
from depthextractors.io.movie import (
    PreviewMovie,
    _colour_tables,
    preview_codec,
    write_preview_movie,
)
from depthextractors.testing import generate_synthetic_session

FRAMES = 90


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    session = tmp_path_factory.mktemp("movie") / "session"
    synthetic = generate_synthetic_session(session, FRAMES, seed=31)
    config = ExtractionConfig(write_report=False, chunk_size=40)  # several chunks
    extract_session(session, session / "proc", config)
    return session, read_results(session / "proc"), synthetic


def decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return codec, np.stack(frames)


def test_codec_is_h264_or_mpeg4():
    assert preview_codec() in ("libx264", "h264", "libopenh264", "mpeg4")


def test_movie_has_every_frame_with_the_crop_inset(extracted):
    session, results, _ = extracted
    codec, frames = decode(session / "proc" / "results_00.mp4")
    assert codec in ("h264", "mpeg4")
    assert frames.shape[0] == FRAMES
    roi_rows, roi_cols = np.nonzero(results.roi)
    # Half resolution arena box, at least the inset, even sides.
    box_rows = (roi_rows.max() - roi_rows.min()) // 2 + 1
    box_cols = (roi_cols.max() - roi_cols.min()) // 2 + 1
    assert frames.shape[1] in (box_rows, box_rows + 1)
    assert frames.shape[2] == -(-box_cols // 32) * 32  # padded with black columns
    assert frames[:, :, box_cols + 2 :].max() < 25
    crops = np.asarray(results.frames[:])
    valid = results.valid
    bright = frames.max(axis=-1)  # any channel lit = coloured
    checked = 0
    for k in np.flatnonzero(valid)[::10]:
        inset = bright[k, :80, :80]
        animal = crops[k] >= 15
        empty = crops[k] == 0
        empty[:3], empty[-3:], empty[:, :3], empty[:, -3:] = False, False, False, False
        assert inset[animal].mean() > 60, k
        assert inset[empty].mean() < 25, k
        checked += 1
    assert checked >= 5


def test_animal_is_coloured_where_it_is_in_the_arena_and_the_floor_is_black(extracted):
    session, results, synthetic = extracted
    _, frames = decode(session / "proc" / "results_00.mp4")
    roi_rows, roi_cols = np.nonzero(results.roi)
    bright = frames.max(axis=-1).astype(float)
    for k in np.flatnonzero(results.valid)[::15]:
        x, y = synthetic.truth.centroid_px[k]
        col, row = int((x - roi_cols.min()) // 2), int((y - roi_rows.min()) // 2)
        if row < 84 and col < 84:
            continue  # under the 80x80 inset
        assert bright[k, row - 1 : row + 2, col - 1 : col + 2].mean() > 60, k
    # Away from the animal and the inset, the arena floor is black.
    assert np.median(bright[:, -40:, -40:]) < 20


def test_post_pass_movie_matches_the_one_made_during_extraction(extracted, tmp_path):
    session, results, _ = extracted
    path = write_preview_movie(results, open_depth_video(session), tmp_path / "after.mp4")
    _, during = decode(session / "proc" / "results_00.mp4")
    _, after = decode(path)
    assert after.shape == during.shape
    assert np.abs(after.astype(int) - during.astype(int)).mean() < 1.0


def test_colour_tables_black_outside_the_height_range():
    y, u, v = _colour_tables(10.0, 100.0)
    black = (y[0], u[0], v[0])
    index_of = lambda height: int(height * 254 / 100)  # noqa: E731
    assert (y[index_of(5)], u[index_of(5)], v[index_of(5)]) == black  # below min_height
    assert (y[255], u[255], v[255]) == black  # above max_height or invalid
    assert y[index_of(50)] > black[0] + 30  # the animal is bright


def test_a_failing_movie_never_fails_the_extraction(tmp_path, monkeypatch, caplog):
    session = tmp_path / "s"
    generate_synthetic_session(session, 30, seed=5)

    def broken(*args, **kwargs):
        raise RuntimeError("no encoder")

    monkeypatch.setattr(movie_module, "PreviewMovie", broken)
    with caplog.at_level(logging.WARNING, logger="depthextractors"):
        outcome = extract_session(session, session / "proc", ExtractionConfig(write_report=False))
    assert outcome.status == "extracted"
    assert len(read_results(session / "proc")) == 30
    assert "preview movie could not be written" in caplog.text
    assert not (session / "proc" / "results_00.mp4").exists()
    assert not (session / "proc" / "results_00.mp4.partial").exists()


def test_aborted_movie_leaves_no_file(tmp_path):
    background = np.full((40, 60), 700.0)
    roi = np.zeros((40, 60), bool)
    roi[5:35, 5:55] = True
    movie = PreviewMovie(tmp_path / "m.mp4", background, roi, (8, 8), 10, 100, 30)
    movie.add(np.full((3, 40, 60), 690, np.uint16), np.zeros((3, 8, 8), np.uint8))
    movie.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="ROI is empty"):
        PreviewMovie(tmp_path / "n.mp4", background, np.zeros_like(roi), (8, 8), 10, 100, 30)
