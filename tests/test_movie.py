"""The preview movie results_00.mp4: a strip with frame number and time, the crop, the arena in
false colour beside it."""

import logging

import av
import numpy as np
import pytest

from depthextractors import open_depth_video, read_results
from depthextractors.batch import extract_session
from depthextractors.config import ExtractionConfig
from depthextractors.io import movie_writer as movie_writer_module
from depthextractors.io.movie import (
    PreviewMovie,
    _colour_tables,
    preview_codec,
)
from depthextractors.io.movie_writer import write_preview_movie
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


def box_of(roi):
    rows, cols = np.nonzero(roi)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


# The layout the movie promises: a 24-row strip on top; below it the crop at full resolution,
# a grey line, a black one, then the arena at the smallest whole step that keeps it within 200
# pixels across.
STRIP = 24


def layout(roi, crop=80):
    row0, row1, col0, col1 = box_of(roi)
    step = -(-max(row1 - row0, col1 - col0) // 200)
    rows, cols = len(range(row0, row1, step)), len(range(col0, col1, step))
    return step, rows, cols, crop + 2


def test_movie_has_every_frame_with_the_crop_beside_the_arena(extracted):
    session, results, _ = extracted
    codec, frames = decode(session / "proc" / "results_00.mp4")
    assert codec in ("h264", "mpeg4")
    assert frames.shape[0] == FRAMES
    step, box_rows, box_cols, arena_col = layout(results.roi)
    assert step == 2  # a Kinect v2 arena (about 370 px) every second pixel
    height = STRIP + max(box_rows, 80)
    assert frames.shape[1] == height + height % 2
    assert frames.shape[2] == -(-(arena_col + box_cols) // 16) * 16
    assert frames[:, STRIP:, arena_col + box_cols + 1 :].max(initial=0) < 25
    bright = frames.max(axis=-1).astype(float)  # any channel lit = coloured
    # The grey line between crop and arena, on every frame.
    assert np.all(np.abs(bright[:, STRIP:, arena_col - 2].mean(axis=1) - 150) < 40)
    crops = np.asarray(results.frames[:])
    checked = 0
    for k in np.flatnonzero(results.valid)[::10]:
        shown = bright[k, STRIP : STRIP + 80, :80]
        animal = crops[k] >= 15
        empty = crops[k] == 0
        empty[:3], empty[-3:], empty[:, :3], empty[:, -3:] = False, False, False, False
        assert shown[animal].mean() > 60, k
        assert shown[empty].mean() < 25, k
        checked += 1
    assert checked >= 5


def test_each_frame_carries_its_number_and_time(extracted, tmp_path):
    session, _, _ = extracted
    _, frames = decode(session / "proc" / "results_00.mp4")
    strip = frames[:, :STRIP].max(axis=-1)
    # Light text on black: some pixels lit, most black, on every frame.
    lit = (strip > 150).sum(axis=(1, 2))
    assert lit.min() > 40
    assert np.all((strip < 40).mean(axis=(1, 2)) > 0.8)
    # The text changes from frame to frame (its number).
    assert all(np.abs(strip[k].astype(int) - strip[k + 1]).max() > 100 for k in range(0, 89, 7))
    # The same number and time drawn twice give the same strip: the text is the frame's.
    roi = np.ones((200, 200), bool)
    strips = []
    for name in ("a", "b"):
        movie = PreviewMovie(tmp_path / f"{name}.mp4", roi, (8, 8), 10, 100, 30)
        heights = np.zeros((2, *movie.arena_shape), np.uint8)
        movie.add(heights, None, frame_numbers=np.array([1234, 1234]), times_s=[61.5, 61.5])
        strips.append(decode(movie.close())[1][:, :STRIP].max(axis=-1))
    np.testing.assert_array_equal(strips[0], strips[1])
    np.testing.assert_array_equal(strips[0][0], strips[0][1])
    assert np.abs(strips[0][0].astype(int)[:, :200] - strip[0][:, :200]).max() > 100


def test_animal_is_coloured_where_it_is_in_the_arena_and_the_floor_is_black(extracted):
    session, results, synthetic = extracted
    _, frames = decode(session / "proc" / "results_00.mp4")
    row0, row1, col0, col1 = box_of(results.roi)
    step, box_rows, box_cols, arena_col = layout(results.roi)
    inside = results.roi[row0:row1:step, col0:col1:step]
    bright = frames.max(axis=-1).astype(float)
    checked = 0
    for k in np.flatnonzero(results.valid)[::15]:
        x, y = synthetic.truth.centroid_px[k]
        row, col = round((y - row0) / step), round((x - col0) / step)
        arena = bright[k, STRIP : STRIP + box_rows, arena_col : arena_col + box_cols]
        assert arena[row - 1 : row + 2, col - 1 : col + 2].mean() > 60, k
        # Away from the animal, the arena floor is black.
        far = np.ones(arena.shape, bool)
        far[max(row - 20, 0) : row + 20, max(col - 20, 0) : col + 20] = False
        assert np.median(arena[far & inside]) < 20, k
        # Outside the arena dark grey, so its outline shows.
        assert 30 < np.median(arena[~inside]) < 70, k
        checked += 1
    assert checked >= 5


def test_post_pass_movie_is_the_one_made_during_extraction(extracted, tmp_path):
    session, results, _ = extracted
    path = write_preview_movie(results, open_depth_video(session), tmp_path / "after.mp4")
    _, during = decode(session / "proc" / "results_00.mp4")
    _, after = decode(path)
    # Same heights (recomputed from the recording and the saved background), same encoder.
    np.testing.assert_array_equal(after, during)


def test_a_movie_behind_the_extraction_gets_every_block_intact(extracted, tmp_path, monkeypatch):
    """The writer copies each block into one of its few buffers and the extraction reuses its
    chunks' memory: with small blocks and a movie thread slower than the extraction, every
    buffer is reused many times, and the movie is still the one made afterwards."""
    import time

    session = extracted[0]
    monkeypatch.setattr(movie_writer_module, "QUEUED_FRAMES", 7)
    add = PreviewMovie.add

    def slow_add(self, *args, **kwargs):
        time.sleep(0.02)
        return add(self, *args, **kwargs)

    monkeypatch.setattr(PreviewMovie, "add", slow_add)
    config = ExtractionConfig(write_report=False, chunk_size=25)
    extract_session(session, tmp_path / "proc", config)
    _, during = decode(tmp_path / "proc" / "results_00.mp4")
    _, before = decode(session / "proc" / "results_00.mp4")
    assert len(during) == FRAMES
    np.testing.assert_array_equal(during, before)


def test_colour_tables_black_outside_the_height_range():
    y, u, v = _colour_tables(10.0, 100.0)  # index = whole millimetres
    black = (y[0], u[0], v[0])
    assert (y[5], u[5], v[5]) == black  # below min_height
    assert (y[150], u[150], v[150]) == black  # above max_height
    assert y[50] > black[0] + 30  # the animal is bright
    # Index 255 marks the pixels outside the arena: dark grey, neither black nor a colour.
    assert black[0] + 15 < y[255] < black[0] + 60
    assert abs(int(u[255]) - 128) <= 2
    assert abs(int(v[255]) - 128) <= 2
    # Taller ranges are scaled: index 254 stands for max_height.
    y, u, v = _colour_tables(10.0, 400.0, mm_per_index=400 / 254)
    assert (y[3], u[3], v[3]) == black  # 4.7 mm
    assert y[32] > black[0] + 30  # 50 mm


def test_sixteen_bit_heights_are_scaled_into_the_colours(tmp_path):
    roi = np.zeros((60, 90), bool)
    roi[:, :] = True
    movie = PreviewMovie(tmp_path / "m.mp4", roi, (8, 8), 10, 400, 30, downsample=1)
    heights = np.zeros((2, 60, 90), np.uint16)
    heights[:, 20:30, 40:50] = 350  # tall, still within max_height: coloured
    heights[:, 40:50, 40:50] = 5  # below min_height: black
    movie.add(heights, np.zeros((2, 8, 8), np.uint16))
    _, frames = decode(movie.close())
    bright = frames.max(axis=-1)[:, STRIP:, 8 + 2 :]  # the arena
    assert bright[:, 22:28, 42:48].min() > 60
    assert bright[:, 42:48, 42:48].max() < 25


def test_wrong_shapes_are_refused_with_the_expected_ones(tmp_path):
    roi = np.ones((40, 60), bool)
    movie = PreviewMovie(tmp_path / "m.mp4", roi, (8, 8), 10, 100, 30, downsample=3)
    with pytest.raises(ValueError, match=r"arena heights of shape \(n, 14, 20\)"):
        movie.add(np.zeros((3, 40, 60), np.uint8), None)
    with pytest.raises(ValueError, match="3 crops of 8x8"):
        movie.add(np.zeros((3, 14, 20), np.uint8), np.zeros((3, 9, 9), np.uint8))
    movie.abort()


def test_a_failing_movie_never_fails_the_extraction(tmp_path, monkeypatch, caplog):
    session = tmp_path / "s"
    generate_synthetic_session(session, 30, seed=5)

    def broken(*args, **kwargs):
        raise RuntimeError("no encoder")

    monkeypatch.setattr(movie_writer_module, "PreviewMovie", broken)
    with caplog.at_level(logging.WARNING, logger="depthextractors"):
        outcome = extract_session(session, session / "proc", ExtractionConfig(write_report=False))
    assert outcome.status == "extracted"
    assert len(read_results(session / "proc")) == 30
    assert "preview movie could not be written" in caplog.text
    assert not (session / "proc" / "results_00.mp4").exists()
    assert not list((session / "proc").glob("*.partial"))


def test_aborted_movie_leaves_no_file(tmp_path):
    roi = np.zeros((40, 60), bool)
    roi[5:35, 5:55] = True
    movie = PreviewMovie(tmp_path / "m.mp4", roi, (8, 8), 10, 100, 30)
    movie.add(np.full((3, *movie.arena_shape), 20, np.uint8), np.zeros((3, 8, 8), np.uint8))
    movie.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="ROI is empty"):
        PreviewMovie(tmp_path / "n.mp4", np.zeros_like(roi), (8, 8), 10, 100, 30)
    with pytest.raises(ValueError, match="downsample"):
        PreviewMovie(tmp_path / "n.mp4", roi, (8, 8), 10, 100, 30, downsample=0)


def test_the_arena_is_shown_within_200_pixels_across_whatever_the_camera(tmp_path):
    # A RealSense or binned Azure arena at full resolution, a Kinect v2 one every second
    # pixel, a 1 MP Azure one every fourth.
    for across, step in ((100, 1), (200, 1), (370, 2), (700, 4), (900, 5)):
        roi = np.zeros((1000, 1000), bool)
        roi[10 : 10 + across, 20 : 20 + across // 2] = True
        movie = PreviewMovie(tmp_path / f"{across}.mp4", roi, (80, 80), 10, 100, 30)
        assert movie.step == step
        assert movie.arena_shape == (len(range(0, across, step)), len(range(0, across // 2, step)))
        movie.abort()
