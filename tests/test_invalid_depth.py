"""Invalid depth is invalid everywhere (issue 14): 0 and the saturated 65535 are no
measurement for the background, the arena, the heights and so the scalars; a floor no camera
can see is an error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from depthextractors import (
    CAMERA_PRESETS,
    CameraModel,
    ManualROI,
    NumpyDepthExtractor,
    PlaneROI,
    SessionExtraction,
    StridedMedianBackground,
    get_camera,
)
from depthextractors.cameras import ANY_CAMERA_DEPTH_RANGE_MM, INVALID_DEPTHS
from depthextractors.extraction import ArenaHeights, median_ignoring_zeros
from depthextractors.io import InMemoryResultsWriter
from depthextractors.testing import synthesize_depth_video

SATURATED = 65535


@pytest.fixture(scope="module")
def session():
    video, truth = synthesize_depth_video(90, seed=11)
    return video, truth


def _saturate(video: np.ndarray, fraction: float, where: np.ndarray, seed: int = 0) -> np.ndarray:
    """``video`` with ``fraction`` of the ``where`` pixels of every frame saturated."""
    rng = np.random.default_rng(seed)
    hit = (rng.random(video.shape) < fraction) & where[None]
    return np.where(hit, SATURATED, video).astype(np.uint16)


def test_every_preset_knows_its_invalid_codes_and_range():
    for camera in CAMERA_PRESETS.values():
        assert camera.invalid_depths == INVALID_DEPTHS == (0, 65535)
        low, high = camera.depth_range_mm
        assert 100 <= low < 700 < high <= 10_000, camera.name
    assert CAMERA_PRESETS["kinect_v2"].depth_range_mm == (500.0, 8000.0)
    assert CAMERA_PRESETS["azure_wfov_unbinned"].depth_range_mm == (250.0, 2210.0)
    unknown = get_camera("auto", (10, 10))
    assert unknown.depth_range_mm is None
    assert unknown.visible_range_mm == ANY_CAMERA_DEPTH_RANGE_MM == (105.0, 10000.0)
    custom = CameraModel("lab", "unknown", (2, 2), None, invalid_depths=(0, 4095))
    np.testing.assert_array_equal(
        custom.invalid_mask(np.array([[0, 4095], [65535, 700]])), [[True, True], [False, False]]
    )


@pytest.mark.parametrize("layout", ["reflective pixels", "in every frame"])
def test_saturated_pixels_do_not_move_the_background(session, layout):
    """20% saturated pixels used to shift the background by hundreds of millimetres."""
    video, truth = session
    rng = np.random.default_rng(3)
    if layout == "reflective pixels":  # the same fifth of the pixels in every frame
        hit = (rng.random(video.shape[1:]) < 0.2)[None]
    else:  # a fifth of the pixels of each frame, anywhere
        hit = rng.random(video.shape) < 0.2
    saturated = np.where(hit, SATURATED, video).astype(np.uint16)
    # The plain median first (transients kept): the saturated codes' own effect.
    strategy = StridedMedianBackground(frame_stride=5, transient_height=0)
    clean = strategy.compute(NumpyDepthExtractor(video, 30.0))
    found = strategy.compute(NumpyDepthExtractor(saturated, 30.0))
    shift = np.abs(found - clean)[truth.arena_mask]
    # Away from depth edges, within the noise of a median of fewer values; at an edge (floor
    # beside wall) a pixel may go to the other side, a few of them.
    flat = (ndimage.maximum_filter(clean, 5) - ndimage.minimum_filter(clean, 5)) < 20
    assert np.abs(found - clean)[flat & truth.arena_mask].max() <= 8.0
    assert np.mean(shift > 20) < 0.001
    # With the defaults (the animal rests through the first samples and is left out as a
    # transient, with its low rim) no further from the floor than the clean background, but for
    # a few pixels at the edge of where it rested: saturated pixels filled from their
    # neighbours there can leave the floor in under a fifth of the samples, or the rim's
    # median within 5 mm of the floor's, so the edge stays. The clean background keeps a few
    # such pixels of its own: as many stay off the floor, and none further than its worst.
    default = StridedMedianBackground(frame_stride=5)
    errors = [
        np.abs(default.compute(NumpyDepthExtractor(v, 30.0)) - truth.floor_depth_mm)[
            flat & truth.arena_mask
        ]
        for v in (video, saturated)
    ]
    assert np.mean(errors[1] - errors[0] > 8.0) < 0.0002
    off_floor = [np.count_nonzero(error > 8.0) for error in errors]
    assert off_floor[1] <= 1.1 * off_floor[0]
    assert errors[1].max() <= errors[0].max() + 1.0
    # Taken as depths, as they used to be, they move it far (what the test guards).
    frames = saturated[strategy.frame_indices(len(saturated))]
    naive = median_ignoring_zeros(np.stack([cv2.medianBlur(f, 5) for f in frames]))
    assert np.abs(naive - clean)[truth.arena_mask].max() > 10.0


def test_a_camera_specific_code_is_left_out_too():
    rng = np.random.default_rng(1)
    video = (700 + rng.integers(0, 3, size=(20, 8, 8))).astype(np.uint16)
    video[::2, 2:6, 2:6] = 4095  # the code of a made-up camera
    camera = CameraModel("lab", "unknown", (8, 8), (60.0, 50.0), invalid_depths=(0, 4095))
    extractor = NumpyDepthExtractor(video, 30.0, camera=camera)
    background = StridedMedianBackground(frame_stride=1, median_filter_size=1).compute(extractor)
    assert background.max() < 703


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_saturated_pixel_is_no_animal(dtype):
    """Both paths of ArenaHeights: the fast uint16 one (uint8 heights) and the float one."""
    background = np.full((6, 6), 680.0)
    roi = np.ones((6, 6), dtype=bool)
    frame = np.full((1, 6, 6), 680, dtype=np.uint16)
    frame[0, 1, 1] = 620  # a 60 mm animal
    frame[0, 2, 2] = SATURATED
    frame[0, 3, 3] = 0
    heights = ArenaHeights(background, roi, 10, 120, dtype=dtype)
    assert heights._fast == (dtype == np.uint8)
    out = heights(frame)[0]
    assert out[1, 1] == 60
    assert out[2, 2] == 0
    assert out[3, 3] == 0
    assert np.count_nonzero(out) == 1
    # A camera whose code lies nearer than the floor: dropped, on the float path.
    coded = frame.copy()
    coded[0, 4, 4] = 600
    custom = ArenaHeights(background, roi, 10, 120, dtype=dtype, invalid_depths=(0, 600))
    assert not custom._fast
    assert custom(coded)[0, 4, 4] == 0
    assert ArenaHeights(background, roi, 10, 120, dtype=dtype)(coded)[0, 4, 4] == 80


def test_saturation_leaves_the_extraction_unchanged(session):
    """Background, arena and heights ignore it, so the scalars do not move."""
    video, truth = session
    clean_background = np.median(video, axis=0)
    animal = ((clean_background[None] - video) > 5).any(axis=0)
    # Out of reach of the 5x5 blur of any pixel the animal covers.
    near = ndimage.binary_dilation(animal, structure=np.ones((3, 3), bool), iterations=3)
    never_animal = truth.arena_mask & ~near
    saturated = _saturate(video, 0.2, never_animal, seed=2)

    def extract(frames):
        extraction = SessionExtraction(
            NumpyDepthExtractor(frames, 30.0),
            roi=ManualROI(truth.arena_mask),
            background=StridedMedianBackground(frame_stride=5),
        )
        return extraction.run(InMemoryResultsWriter(), progress=False)

    clean, found = extract(video), extract(saturated)
    np.testing.assert_array_equal(found.frames[:], clean.frames[:])
    for name in ("centroid_x_px", "centroid_y_px", "area_px", "height_ave_mm", "angle"):
        np.testing.assert_allclose(found.scalars[name][:], clean.scalars[name][:], atol=1e-4,
                                   err_msg=name)  # fmt: skip


def test_the_arena_is_found_past_saturated_patches(session):
    video, _ = session
    background = StridedMedianBackground(frame_stride=5).compute(NumpyDepthExtractor(video, 30.0))
    patched = background.copy()
    patched[:60, :80] = SATURATED  # a patch the median could not clean (saturated throughout)
    camera = CAMERA_PRESETS["kinect_v2"]
    clean = PlaneROI().find(background, camera)
    found = PlaneROI().find(patched, camera)
    assert found.true_depth == pytest.approx(clean.true_depth, abs=1.0)
    assert found.depth_range == pytest.approx(clean.depth_range, abs=2.0)


def test_a_floor_no_camera_can_see_is_an_error(session):
    """The real RealSense bag b3e7... used to report a true depth of 65535 mm."""
    video, truth = session
    camera = CAMERA_PRESETS["kinect_v2"]
    far = np.full(video.shape[1:], 9000.0)  # beyond the Kinect v2's 8 m
    with pytest.raises(ValueError, match=r"floor was found 900[01] mm .*500-8000 mm a kinect_v2 .*"
                       r"percentiles 9000/.*depth_range=\(low, high\)"):  # fmt: skip
        PlaneROI().find(far, camera)
    with pytest.raises(ValueError, match="9000 mm from the camera, outside the 500-8000 mm"):
        ManualROI(truth.arena_mask).find(far, camera)
    unknown = get_camera("auto", video.shape[1:][::-1])
    with pytest.raises(ValueError, match="outside the 105-10000 mm any supported camera"):
        ManualROI(np.ones((video.shape[2], video.shape[1]), bool)).find(
            np.full((video.shape[2], video.shape[1]), 12000.0), unknown
        )
    # A depth given by the user is taken as given.
    given = ManualROI(truth.arena_mask, true_depth=9000.0).find(far, camera)
    assert given.true_depth == 9000.0


def test_a_recording_of_saturated_frames_has_no_floor():
    frames = np.full((5, 424, 512), SATURATED, dtype=np.uint16)
    extraction = SessionExtraction(NumpyDepthExtractor(frames, 30.0))
    with pytest.raises(ValueError, match="no valid"):
        extraction.find_roi()
