"""Arena (ROI) strategies on synthetic sessions with ground truth, and their errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from depthextractors.cameras import get_camera
from depthextractors.extraction import (
    ArenaROI,
    ManualROI,
    PlaneROI,
    StridedMedianBackground,
    estimate_floor_depth,
    fit_plane,
    plane_depth,
)
from depthextractors.extraction.roi import CAMERA_ROI_WEIGHTS
from depthextractors.extractors import NumpyDepthExtractor
from depthextractors.testing import synthesize_depth_video

CASES = {
    "kinect-round": {"camera": "kinect_v2", "arena": "round"},
    "kinect-square-dropouts": {
        "camera": "kinect_v2",
        "arena": "square",
        "dropout_fraction": 0.05,
        "floor_tilt_deg": (-2.5, 2.0),
        "floor_depth_mm": 720.0,
    },
    "azure-round": {"camera": "azure_nfov_unbinned", "arena": "round", "floor_depth_mm": 640.0},
    "azure-square": {"camera": "azure_nfov_unbinned", "arena": "square"},
}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


def _normal(plane) -> np.ndarray:
    normal = np.asarray(plane[:3], dtype=np.float64)
    return normal / np.linalg.norm(normal) * np.sign(normal[2])


@pytest.fixture(scope="module", params=sorted(CASES))
def scene(request):
    options = CASES[request.param]
    video, truth = synthesize_depth_video(150, seed=7, **options)
    extractor = NumpyDepthExtractor(video, 30.0, camera=options["camera"])
    background = StridedMedianBackground(frame_stride=5).compute(extractor)
    return background, truth, extractor.camera


def test_roi_matches_the_true_arena(scene):
    background, truth, camera = scene
    # The default dilation (10x10 ellipse, once) grows the floor by design, so the region itself
    # is compared with dilation off; the default ROI must then contain the whole arena.
    undilated = PlaneROI(dilate_iterations=0).find(background, camera)
    assert _iou(undilated.mask, truth.arena_mask) >= 0.95
    default = PlaneROI().find(background, camera)
    covered = np.count_nonzero(default.mask & truth.arena_mask) / np.count_nonzero(truth.arena_mask)
    assert covered >= 0.99
    assert default.mask.sum() > undilated.mask.sum()
    assert abs(default.true_depth - truth.true_depth_mm) <= 2.0
    assert default.depth_range is not None
    assert default.depth_range[0] < truth.true_depth_mm < default.depth_range[1]


def test_plane_matches_the_true_floor(scene):
    background, truth, camera = scene
    arena = PlaneROI().find(background, camera)
    assert arena.plane is not None
    assert np.linalg.norm(arena.plane[:3]) == pytest.approx(1.0)
    angle = np.degrees(np.arccos(np.clip(_normal(arena.plane) @ _normal(truth.floor_plane), -1, 1)))
    assert angle < 0.2
    # Compare depths, which is what the plane is used for (plane background, heights).
    floor = plane_depth(arena.plane, background.shape)
    assert np.max(np.abs(floor - truth.floor_depth_mm)[truth.arena_mask]) < 1.0


def test_same_roi_on_every_run(scene):
    background, _, camera = scene
    first = PlaneROI().find(background, camera)
    second = PlaneROI().find(background.copy(), camera)
    np.testing.assert_array_equal(first.mask, second.mask)
    np.testing.assert_array_equal(first.plane, second.plane)
    assert first.true_depth == second.true_depth


def test_same_roi_in_a_fresh_process(tmp_path):
    video, _ = synthesize_depth_video(60, arena="square", dropout_fraction=0.03, seed=9)
    background = StridedMedianBackground(frame_stride=3).compute(NumpyDepthExtractor(video, 30.0))
    path = tmp_path / "background.npy"
    np.save(path, background)
    script = textwrap.dedent(
        f"""
        import hashlib, numpy as np
        from depthextractors.cameras import get_camera
        from depthextractors.extraction import PlaneROI
        background = np.load({str(path)!r})
        arena = PlaneROI().find(background, get_camera("kinect_v2"))
        digest = hashlib.sha256(np.packbits(arena.mask).tobytes() + arena.plane.tobytes())
        print(digest.hexdigest(), repr(arena.true_depth))
        """
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    arena = PlaneROI().find(background, get_camera("kinect_v2"))
    import hashlib

    here = hashlib.sha256(np.packbits(arena.mask).tobytes() + arena.plane.tobytes())
    assert outputs == {f"{here.hexdigest()} {arena.true_depth!r}"}


def test_different_seeds_agree_on_a_clean_floor(scene):
    background, _, camera = scene
    roi = [PlaneROI(seed=seed, dilate_iterations=0) for seed in (0, 1)]
    masks = [strategy.find(background, camera).mask for strategy in roi]
    assert _iou(masks[0], masks[1]) > 0.99


def test_explicit_depth_range_is_used_and_reported(scene):
    background, truth, camera = scene
    low, high = truth.true_depth_mm - 60, truth.true_depth_mm + 60
    arena = PlaneROI(depth_range=(low, high), dilate_iterations=0).find(background, camera)
    assert arena.depth_range == (low, high)
    assert _iou(arena.mask, truth.arena_mask) >= 0.95


def test_floor_depth_estimate_is_the_arena_floor(scene):
    background, truth, _ = scene
    assert abs(estimate_floor_depth(background) - truth.true_depth_mm) < 10


def test_weights_follow_the_camera_family():
    assert PlaneROI().resolve_weights(get_camera("kinect_v2")) == (1.0, 0.1, 1.0)
    assert PlaneROI().resolve_weights(get_camera("azure_nfov_unbinned")) == (10.0, 0.1, 1.0)
    assert PlaneROI().resolve_weights(get_camera("realsense_d435_640x480")) == (10.0, 0.1, 1.0)
    assert PlaneROI(weights=(2, 0, 1)).resolve_weights(get_camera("azure_nfov_unbinned")) == (
        2.0,
        0.0,
        1.0,
    )
    assert set(CAMERA_ROI_WEIGHTS) == {"kinect", "azure", "realsense"}


def _two_platforms() -> np.ndarray:
    """A 200x240 floor at 700 mm with a small far patch and a large off-centre patch."""
    image = np.full((200, 240), 900.0)
    image[80:120, 100:140] = 700.0  # small, at the centre
    image[10:190, 150:235] = 700.0  # large, off centre
    return image


def test_ranking_uses_area_and_distance_and_index_picks_the_next():
    image = _two_platforms()
    camera = get_camera("kinect_v2")
    centre_first = PlaneROI(depth_range=(650, 750), weights=(0, 0, 1), dilate_iterations=0)
    area_first = PlaneROI(depth_range=(650, 750), weights=(1, 0, 0), dilate_iterations=0)
    small = centre_first.find(image, camera).mask
    large = area_first.find(image, camera).mask
    assert small.sum() == 40 * 40
    assert small[100, 120]
    assert large.sum() == 180 * 85
    assert large[100, 200]
    second = PlaneROI(depth_range=(650, 750), weights=(1, 0, 0), dilate_iterations=0, index=1)
    np.testing.assert_array_equal(second.find(image, camera).mask, small)


def test_small_specks_are_not_ranked_unless_asked():
    image = np.full((200, 240), 900.0)
    image[20:180, 150:230] = 700.0  # the floor, off centre ...
    image[20:60, 150:190] = 900.0  # ... and not a rectangle (extent < 1)
    image[98:102, 118:122] = 700.0  # a 16-pixel speck at the centre
    base = {"depth_range": (650, 750), "weights": (1, 0.1, 1), "dilate_iterations": 0}
    floor = PlaneROI(**base).find(image).mask
    assert floor.sum() == 160 * 80 - 40 * 40
    speck = PlaneROI(min_region_fraction=0, **base).find(image).mask
    assert speck.sum() == 16


def test_dilation_erosion_and_hole_filling():
    image = np.full((120, 160), 900.0)
    image[30:90, 40:120] = 700.0
    image[55:65, 75:85] = 640.0  # a pillar: a hole in the floor
    base = {"depth_range": (650, 750), "weights": (1, 0.1, 1)}
    plain = PlaneROI(dilate_iterations=0, fill_holes=False, **base).find(image)
    assert plain.mask.sum() == 60 * 80 - 100
    filled = PlaneROI(dilate_iterations=0, **base).find(image)
    assert filled.mask.sum() == 60 * 80
    grown = PlaneROI(dilate=(5, 5), shape="rect", **base).find(image)
    assert grown.mask.sum() == 64 * 84
    shrunk = PlaneROI(dilate_iterations=0, erode=(3, 3), erode_iterations=1, shape="rect", **base)
    assert shrunk.find(image).mask.sum() == 58 * 78
    assert filled.true_depth == 700.0
    assert filled.bbox == (30, 90, 40, 120)


def test_gradient_filter_removes_steep_edges():
    image = np.full((120, 160), 700.0)
    image[:, 80:] = 702.0  # a 2 mm step: floor unevenness, kept at the default threshold
    image[:, 130:] = 650.0  # a 52 mm step: a wall, removed
    keep = PlaneROI(gradient_filter=True).gradient_mask(image)
    assert keep[:, :120].all()
    assert not keep[:, 128:132].any()
    assert keep[:, 140:].all()
    strict = PlaneROI(gradient_filter=True, gradient_threshold=100).gradient_mask(image)
    assert not strict[:, 78:82].any()
    roi = PlaneROI(depth_range=(680, 720), gradient_filter=True, dilate_iterations=0)
    assert not roi.find(image).mask[:, 127:].any()


def test_manual_roi_gives_depth_and_plane(scene):
    background, truth, camera = scene
    arena = ManualROI(truth.arena_mask).find(background, camera)
    assert isinstance(arena, ArenaROI)
    np.testing.assert_array_equal(arena.mask, truth.arena_mask)
    assert abs(arena.true_depth - truth.true_depth_mm) <= 2.0
    assert arena.depth_range is None
    angle = np.degrees(np.arccos(np.clip(_normal(arena.plane) @ _normal(truth.floor_plane), -1, 1)))
    assert angle < 0.2
    as_integers = ManualROI(truth.arena_mask.astype(np.uint8)).find(background, camera)
    np.testing.assert_array_equal(as_integers.mask, truth.arena_mask)


def test_a_given_true_depth_replaces_the_measured_one(scene):
    # moseq2's detected_true_depth: the ROI strategies take it (same mask, same plane).
    background, truth, camera = scene
    for strategy in (PlaneROI, lambda **kw: ManualROI(truth.arena_mask, **kw)):
        measured = strategy().find(background, camera)
        given = strategy(true_depth=612.5).find(background, camera)
        assert given.true_depth == 612.5
        assert abs(measured.true_depth - truth.true_depth_mm) <= 2.0
        np.testing.assert_array_equal(given.mask, measured.mask)
        np.testing.assert_array_equal(given.plane, measured.plane)
    for bad in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="true_depth must be a positive depth"):
            PlaneROI(true_depth=bad)
        with pytest.raises(ValueError, match="true_depth must be a positive depth"):
            ManualROI(truth.arena_mask, true_depth=bad)


def test_fit_plane_recovers_a_known_plane():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 500, 400), rng.uniform(0, 400, 400)
    plane = fit_plane(x, y, 0.03 * x - 0.02 * y + 650.0)
    np.testing.assert_allclose(-plane[[0, 1, 3]] / plane[2], [0.03, -0.02, 650.0], atol=1e-9)
    assert plane[2] < 0
    with pytest.raises(ValueError, match="collinear"):
        fit_plane(np.arange(10.0), np.arange(10.0), np.full(10, 600.0))


# ------------------------------------------------------------------------------------ errors
def test_no_floor_in_the_depth_range_names_the_depths(scene):
    background, _, camera = scene
    with pytest.raises(ValueError, match=r"no arena floor between 100 and 200 mm") as info:
        PlaneROI(depth_range=(100, 200)).find(background, camera)
    message = str(info.value)
    assert "percentiles" in message
    assert "try depth_range=(" in message


def test_no_flat_floor_in_range_is_an_error():
    rng = np.random.default_rng(1)
    image = rng.uniform(600, 800, size=(100, 120))  # depths in range, but nothing flat
    with pytest.raises(ValueError, match="no flat arena floor"):
        PlaneROI(depth_range=(600, 800), noise_tolerance=2).find(image)


def test_empty_roi_after_erosion_is_an_error():
    image = np.full((60, 80), 900.0)
    image[25:35, 30:40] = 700.0
    roi = PlaneROI(depth_range=(650, 750), dilate_iterations=0, erode=(15, 15), erode_iterations=2)
    with pytest.raises(ValueError, match="ROI is empty after erosion"):
        roi.find(image)


def test_index_past_the_last_region_is_an_error():
    image = _two_platforms()
    with pytest.raises(ValueError, match="only 2 floor region"):
        PlaneROI(depth_range=(650, 750), index=2).find(image)


def test_all_invalid_background_is_an_error():
    with pytest.raises(ValueError, match="no valid"):
        PlaneROI().find(np.zeros((50, 60)))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"depth_range": (750, 650)}, ValueError),
        ({"weights": (1, 2)}, ValueError),
        ({"shape": "triangle"}, ValueError),
        ({"gradient_kernel": 4}, ValueError),
        ({"noise_tolerance": 0}, ValueError),
        ({"index": -1}, ValueError),
        ({"dilate": (3,)}, TypeError),
    ],
)
def test_plane_roi_rejects_bad_parameters(kwargs, error):
    with pytest.raises(error):
        PlaneROI(**kwargs)


def test_background_must_be_an_image():
    with pytest.raises(ValueError, match=r"\(rows, cols\)"):
        PlaneROI().find(np.zeros((2, 3, 4)))


def test_manual_roi_rejects_bad_masks():
    background = np.full((40, 50), 700.0)
    with pytest.raises(ValueError, match=r"mask is 30x50 .* background is 40x50"):
        ManualROI(np.ones((30, 50), dtype=bool)).find(background)
    with pytest.raises(TypeError, match="boolean"):
        ManualROI(np.ones((40, 50), dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        ManualROI(np.zeros((40, 50), dtype=bool))
    with pytest.raises(ValueError, match=r"\(rows, cols\)"):
        ManualROI(np.ones((2, 40, 50), dtype=bool))
    invalid = np.zeros((40, 50))
    with pytest.raises(ValueError, match="no valid"):
        ManualROI(np.ones((40, 50), dtype=bool)).find(invalid)


def test_bbox_of_an_empty_mask_is_an_error():
    arena = ArenaROI(np.zeros((4, 4), dtype=bool), 0.0, None, None)
    with pytest.raises(ValueError, match="empty"):
        _ = arena.bbox
