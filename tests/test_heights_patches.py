"""The heights a crop reads: whole windows, patches round the animal, or the recording again.

With the default pipeline (one pass of frame stages) a frame's heights live in its thread's
scratch image and only a patch round the tracked animal is kept for the crop; a sequential
tracker or a temporal median keeps the window's heights whole. Whichever the source, every crop
reads the same pixels from the same origin, so the results are the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthextractors import (
    EMTracker,
    ManualROI,
    MomentsTracker,
    NumpyDepthExtractor,
    SessionExtraction,
    StridedMedianBackground,
)
from depthextractors.extraction import FrameFilters, HampelFilter
from depthextractors.extraction import stages as stages_module
from depthextractors.extraction.chunk_stages import CropStage
from depthextractors.extraction.crop import crop_and_rotate, crop_reach
from depthextractors.extraction.executor import ChunkExecutor, ChunkWindow, JobOptions
from depthextractors.extraction.frame_stages import (
    BodyCentroidStage,
    HeightsPatchStage,
    SequentialTrackStage,
    _raw_heights,
)
from depthextractors.extraction.stages import WindowWork, frame_passes
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import synthesize_depth_video


@pytest.fixture(scope="module")
def clip():
    video, truth = synthesize_depth_video(120, seed=11)
    return NumpyDepthExtractor(video, 30.0), truth


class _JumpyTracker(MomentsTracker):
    """Moments, but every few frames the centroid reported 60 px to the right (a glitch a
    Hampel filter puts back), decided by the frame's content so any thread agrees."""

    def track(self, image, origin=(0, 0), raw=None):
        found = super().track(image, origin, raw)
        if found is not None and int(image.sum()) % 5 == 0:
            found.x += 60.0
        return found


def _run(extractor, truth, chunk_size=50, n_jobs=2, **kwargs):
    extraction = SessionExtraction(
        extractor,
        roi=ManualROI(truth.arena_mask),
        background=StridedMedianBackground(frame_stride=10),
        **kwargs,
    )
    return extraction.run(
        InMemoryResultsWriter(), chunk_size=chunk_size, n_jobs=n_jobs, progress=False
    )


def _same(a, b):
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.frames_mask, b.frames_mask)
    for name in a.scalars:
        np.testing.assert_array_equal(a.scalars[name], b.scalars[name], err_msg=name)


def _each_stage_its_own_pass(stages):
    return [[stage] for stage in stages]


def _counting_patches(monkeypatch):
    kept = []
    process = HeightsPatchStage.process

    def counted(self, work, k):
        process(self, work, k)
        kept.append(work.patches[k] is not None)

    monkeypatch.setattr(HeightsPatchStage, "process", counted)
    return kept


@pytest.mark.parametrize("tracker", ["moments", "em"])
def test_crops_are_the_same_from_patches_whole_heights_or_the_recording(clip, monkeypatch, tracker):
    extractor, truth = clip
    kept = _counting_patches(monkeypatch)
    settings = {"tracker": MomentsTracker() if tracker == "moments" else EMTracker()}
    from_patches = _run(extractor, truth, **settings)
    # The patch stage kept a patch for (nearly) every frame: round the tracked animal, or
    # round the sequential tracker's input.
    assert sum(kept) > 100
    assert from_patches.scalars["valid"].sum() > 100
    # Chunk size and threads change nothing.
    _same(from_patches, _run(extractor, truth, chunk_size=17, n_jobs=1, **settings))
    _same(from_patches, _run(extractor, truth, chunk_size=1000, n_jobs=3, **settings))
    # Every stage its own pass: the window's heights are kept whole and cropped from.
    with monkeypatch.context() as patch:
        patch.setattr(stages_module, "frame_passes", _each_stage_its_own_pass)
        _same(from_patches, _run(extractor, truth, **settings))
    # No patches at all: every crop made from the recording again (and the sequential
    # tracker's raw heights read from the window).
    with monkeypatch.context() as patch:
        patch.setattr(stages_module, "frame_passes", _each_stage_its_own_pass)
        patch.setattr(HeightsPatchStage, "process", lambda self, work, k: None)
        _same(from_patches, _run(extractor, truth, **settings))


def test_a_centroid_a_hampel_filter_moves_past_its_patch_is_cropped_from_the_recording(
    clip, monkeypatch
):
    extractor, truth = clip
    hampel = {"centroid_hampel": HampelFilter(span=5), "tracker": _JumpyTracker()}
    reread = []
    original = WindowWork.__post_init__

    def counting_rereads(self):
        original(self)
        if self.reread_heights is not None:
            heights_of = self.reread_heights

            def counted(k):
                reread.append(k)
                return heights_of(k)

            self.reread_heights = counted

    monkeypatch.setattr(WindowWork, "__post_init__", counting_rereads)
    moved = _run(extractor, truth, **hampel)
    assert len(reread) >= 5  # the glitches' patches were cut 60 px from the final centroid
    with monkeypatch.context() as patch:
        patch.setattr(stages_module, "frame_passes", _each_stage_its_own_pass)
        _same(moved, _run(extractor, truth, **hampel))


def _window_work(heights_shape, kept=None, reread=None):
    window = ChunkWindow(read_start=0, read_end=1, start=0, end=1, next_read_start=None)
    return WindowWork(
        window=window,
        executor=ChunkExecutor(JobOptions(n_jobs=1)),
        heights=kept,
        box_shape=heights_shape,
        frame_dtype=np.dtype(np.uint8),
        reread_heights=reread,
    )


@pytest.mark.parametrize(("x", "y"), [(100.3, 80.7), (3.2, 4.9), (196.5, 158.1), (60.0, 150.99)])
def test_every_source_gives_the_crop_window_round_the_centroid(x, y):
    rng = np.random.default_rng(3)
    heights = rng.integers(0, 90, (160, 200), dtype=np.uint8)
    stage = CropStage((80, 80), np.uint8, MomentsTracker(), animal_masks=False)
    reach = crop_reach((80, 80))
    assert stage.reach == reach == 59  # corners 56.6 px away, interpolation, rounding
    row, col = math.floor(y), math.floor(x)
    expected_origin = (max(0, col - reach), max(0, row - reach))
    expected = heights[expected_origin[1] : row + reach + 1, expected_origin[0] : col + reach + 1]

    whole = _window_work(heights.shape, kept=heights[None])
    found_whole, origin = stage._heights_for_crop(whole, 0, x, y)
    np.testing.assert_array_equal(found_whole, expected)
    assert origin == expected_origin

    calls = []
    patched = _window_work(heights.shape, reread=lambda k: calls.append(k) or heights)
    # A patch cut round a centroid a few pixels away still covers the window: no reread.
    y0, x0 = max(0, row - 2 - reach - 3), max(0, col - 1 - reach - 3)
    patched.patches[0] = (heights[y0 : row + reach + 4, x0 : col + reach + 4].copy(), x0, y0)
    found_patch, origin = stage._heights_for_crop(patched, 0, x, y)
    np.testing.assert_array_equal(found_patch, expected)
    assert origin == expected_origin
    assert calls == []
    # A patch that misses part of the window: the frame's heights are made again.
    patched.patches[0] = (heights[y0 : y0 + 20, x0 : x0 + 20].copy(), x0, y0)
    found_reread, origin = stage._heights_for_crop(patched, 0, x, y)
    np.testing.assert_array_equal(found_reread, expected)
    assert origin == expected_origin
    assert calls == [0]
    # And the crop from the window is the crop the whole frame gives when nothing is clipped
    # to within OpenCV's single-precision positions (at most 1 mm at a pixel).
    full = crop_and_rotate(heights, x, y, 0.4, (80, 80))
    part = crop_and_rotate(expected, x, y, 0.4, (80, 80), origin=expected_origin)
    assert np.abs(full.astype(int) - part.astype(int)).max() <= 1


def test_the_default_pipeline_is_one_pass_and_keeps_patches(clip):
    extractor, truth = clip
    extraction = SessionExtraction(extractor, roi=ManualROI(truth.arena_mask))
    converter = _converter(extraction, truth)
    stages = extraction.frame_stages(converter=converter, arena_heights_step=None)
    assert len(frame_passes(stages)) == 1
    assert isinstance(stages[-1], HeightsPatchStage)
    assert isinstance(stages[-2], BodyCentroidStage)
    assert stages[-1].around == "animal"
    assert stages[-1].reach == crop_reach(extraction.crop_size)
    # A sequential tracker: the patch is kept round its input, in the first pass.
    extraction = SessionExtraction(extractor, roi=ManualROI(truth.arena_mask), tracker=EMTracker())
    passes = frame_passes(extraction.frame_stages(converter=converter, arena_heights_step=None))
    first = passes[0]
    assert isinstance(first[-1], HeightsPatchStage)
    assert first[-1].around == "input"
    # The body centroid needs no order: after the tracker, on the threads again.
    assert [type(stage) for stage in passes[1]] == [SequentialTrackStage]
    assert [type(stage) for stage in passes[2]] == [BodyCentroidStage]
    # A temporal median reads every pixel of the window later: no patches.
    extraction = SessionExtraction(
        extractor, roi=ManualROI(truth.arena_mask), filters=FrameFilters(temporal_size=3)
    )
    stages = extraction.frame_stages(converter=converter, arena_heights_step=None)
    assert not any(isinstance(stage, HeightsPatchStage) for stage in stages)


def _converter(extraction, truth):
    from depthextractors.extraction import ArenaHeights

    background = np.full(truth.arena_mask.shape, 600.0, dtype=np.float32)
    return ArenaHeights(background, truth.arena_mask, 10, 100)


def test_a_patch_gives_the_heights_it_covers_and_the_recording_the_rest():
    rng = np.random.default_rng(5)
    heights = rng.integers(0, 90, (60, 80), dtype=np.uint8)
    calls = []
    work = _window_work(heights.shape, reread=lambda k: calls.append(k) or heights)
    assert work.patch_heights(0, 0, 5, 0, 5) is None  # no patch yet
    work.patches[0] = (heights[10:40, 20:50].copy(), 20, 10)
    np.testing.assert_array_equal(work.patch_heights(0, 12, 30, 25, 49), heights[12:30, 25:49])
    for outside in ((9, 30, 25, 49), (12, 41, 25, 49), (12, 30, 19, 49), (12, 30, 25, 51)):
        assert work.patch_heights(0, *outside) is None
    # What a stage reads after the patch was kept: the patch, else the frame made again.
    np.testing.assert_array_equal(_raw_heights(work, 0, 25, 12, 18, 24), heights[12:30, 25:49])
    assert calls == []
    np.testing.assert_array_equal(_raw_heights(work, 0, 15, 5, 30, 30), heights[5:35, 15:45])
    assert calls == [0]
