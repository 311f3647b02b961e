"""ExtractionConfig: moseq2 names and defaults, validation, YAML, mapping onto strategies."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from depthextractors import open_depth_video
from depthextractors.config import ConfigError, ConfigWarning, ExtractionConfig
from depthextractors.extraction import (
    FrameFilters,
    MomentsTracker,
    PlaneFitBackground,
    PlaneROI,
    StridedMedianBackground,
)
from depthextractors.extraction.roi import CAMERA_ROI_WEIGHTS
from depthextractors.testing import generate_synthetic_session

MOSEQ2_CONFIG = Path(__file__).parent / "data" / "moseq2_config.yaml"
# Defaults that differ from moseq2-extract 1.4.0's on purpose (docs/migrating.md): chunk_size
# is a job option here (1000 frames keeps memory low; the results do not depend on it).
DOCUMENTED_DIFFERENCES = {"chunk_size"}


@pytest.fixture(scope="module")
def small_session(tmp_path_factory):
    directory = tmp_path_factory.mktemp("config_session") / "session"
    generate_synthetic_session(directory, 40, seed=3)
    return directory


def test_moseq2_config_with_its_defaults_is_accepted_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        config = ExtractionConfig.from_yaml(MOSEQ2_CONFIG)
    assert config.camera_type == "auto"
    assert config.chunk_size == 3000
    assert (config.dilate_iterations, config.max_height) == (1, 120.0)
    assert config.spatial_filter_size == 3  # moseq2 writes [3]
    assert config.crop_size == (80, 80)
    assert config.bg_roi_weights == (1.0, 0.1, 1.0)


def test_our_defaults_are_moseq2s_defaults():
    with open(MOSEQ2_CONFIG) as stream:
        moseq2 = yaml.safe_load(stream)
    ours = ExtractionConfig().to_dict()
    compared = 0
    for key, value in moseq2.items():
        if key not in ours or key in DOCUMENTED_DIFFERENCES or value is None:
            continue
        if key in ("spatial_filter_size", "temporal_filter_size"):
            value = value[0]
        expected = value if not isinstance(value, list) else [float(v) for v in value]
        actual = ours[key] if not isinstance(ours[key], list) else [float(v) for v in ours[key]]
        assert actual == expected, key
        compared += 1
    assert compared == 51  # every key of moseq2-extract 1.4.0 this project has, but chunk_size


def test_yaml_round_trip(tmp_path):
    config = ExtractionConfig(min_height=5, crop_size=(64, 72), temporal_filter_size=3)
    path = config.to_yaml(tmp_path / "config.yaml")
    assert ExtractionConfig.from_yaml(path) == config
    # The file uses moseq2's names and plain YAML lists.
    text = path.read_text()
    assert "bg_roi_depth_range:" in text
    assert "crop_size:\n- 64\n- 72" in text


def test_unknown_and_obsolete_keys_warn_and_are_ignored():
    with pytest.warns(ConfigWarning) as record:
        config = ExtractionConfig.from_dict(
            {"min_heigth": 5, "cluster_type": "slurm", "pixel_format": "gray16be", "foo": 1}
        )
    messages = [str(w.message) for w in record]
    assert any("min_heigth" in m and "did you mean 'min_height'" in m for m in messages)
    assert any("cluster_type" in m and "dask" in m.lower() for m in messages)
    assert any("'foo'" in m for m in messages)
    assert config.min_height == 10  # the misspelt key did not set anything


def test_even_filter_sizes_are_raised_to_odd_with_a_warning():
    with pytest.warns(ConfigWarning, match="odd"):
        config = ExtractionConfig.from_dict({"spatial_filter_size": [4], "temporal_filter_size": 2})
    assert config.spatial_filter_size == 5
    assert config.temporal_filter_size == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_height": 120, "max_height": 100}, "min_height"),
        ({"max_height": 300}, "uint16"),
        ({"chunk_size": 0}, "chunk_size must be at least 1"),
        ({"crop_size": [80]}, "crop_size must be a list of 2"),
        ({"crop_size": "abc"}, "crop_size"),
        ({"use_cc": "maybe"}, "use_cc must be true or false"),
        ({"frame_dtype": "float32"}, "frame_dtype must be one of"),
        ({"bg_roi_depth_range": [750, 650]}, "min < max"),
        ({"noise_tolerance": -3}, "noise_tolerance"),
        ({"spatial_filter_size": [3, 5]}, "spatial_filter_size"),
        ({"bg_roi_gradient_kernel": 4}, "bg_roi_gradient_kernel"),
        ({"detected_true_depth": -5}, "detected_true_depth"),
        ({"camera_type": "kinect3"}, "camera_type"),
    ],
)
def test_bad_values_raise_one_line_config_errors(values, message):
    with pytest.raises(ConfigError, match=message) as info:
        ExtractionConfig.from_dict(values, source="my.yaml")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("my.yaml: ")


def test_bad_files_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ExtractionConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("min_height: 10\ncrop_size: [80, 80\nmax_height: 100\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        ExtractionConfig.from_yaml(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        ExtractionConfig.from_yaml(listing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert ExtractionConfig.from_yaml(empty) == ExtractionConfig()


def test_null_values_keep_the_defaults_as_moseq2_does():
    config = ExtractionConfig.from_dict({"min_height": None, "num_frames": None})
    assert config.min_height == 10
    assert config.num_frames is None


def test_updated_validates_again():
    config = ExtractionConfig()
    assert config.updated({"min-height": 20}).min_height == 20
    with pytest.raises(ConfigError):
        config.updated({"min_height": 500})


def test_depth_range_and_roi_weight_rules(small_session):
    video = open_depth_video(small_session)

    def roi(**values):
        return ExtractionConfig(**values).build_extraction(video).roi

    assert roi().depth_range is None  # automatic, as moseq2 without manual range
    assert roi(manual_set_depth_range=True).depth_range == (650.0, 750.0)
    assert roi(bg_roi_depth_range=(500, 600)).depth_range == (500.0, 600.0)
    assert roi().weights is None  # the recording's camera decides
    assert roi().resolve_weights(video.camera) == CAMERA_ROI_WEIGHTS["kinect"]
    assert roi(bg_roi_weights=(2, 1, 1)).weights == (2.0, 1.0, 1.0)


def test_build_extraction_maps_every_group_onto_its_strategy(small_session):
    config = ExtractionConfig(
        min_height=8, max_height=90, use_cc=False, spatial_filter_size=5,
        temporal_filter_size=3, tail_filter_iters=2, tail_filter_size=(7, 7),
        cable_filter_iters=1, centroid_hampel_span=5, centroid_hampel_sig=2,
        angle_hampel_span=7, crop_size=(64, 64), chunk_size=17, chunk_overlap=2,
        frame_trim=(1, 2), num_frames=30, dilate_iterations=2, bg_roi_dilate=(6, 6),
        noise_tolerance=12, bg_roi_shape="rect", bg_roi_index=1, bg_roi_seed=5,
    )  # fmt: skip
    extraction = config.build_extraction(open_depth_video(small_session))
    assert isinstance(extraction.background, StridedMedianBackground)
    roi = extraction.roi
    assert isinstance(roi, PlaneROI)
    assert (roi.depth_range, roi.weights, roi.dilate, roi.dilate_iterations) == (
        None, None, (6, 6), 2,
    )  # fmt: skip
    assert (roi.noise_tolerance, roi.shape, roi.index, roi.seed) == (12.0, "rect", 1, 5)
    assert roi.erode == (1, 1)
    tracker = extraction.tracker
    assert isinstance(tracker, MomentsTracker)
    assert (tracker.min_height, tracker.max_height) == (8.0, 90.0)
    assert "use_cc" not in tracker.get_params()  # moseq2's key reaches the EM tracker only
    assert extraction.filters == FrameFilters(
        spatial_size=5, temporal_size=3, tail_size=(7, 7), tail_iterations=2,
        cable_iterations=1,
    )  # fmt: skip
    assert (extraction.centroid_hampel.span, extraction.centroid_hampel.sig) == (5, 2.0)
    assert extraction.angle_hampel.span == 7
    assert extraction.crop_size == (64, 64)
    assert (config.job_options().chunk_size, extraction.chunk_overlap) == (17, 2)
    assert extraction.frame_range() == (1, 28)
    plane = ExtractionConfig(use_plane_bground=True).build_extraction(
        open_depth_video(small_session)
    )
    assert isinstance(plane.background, PlaneFitBackground)


def test_detected_true_depth_overrides_the_measured_floor(small_session):
    config = ExtractionConfig(detected_true_depth=700)
    arena = config.build_extraction(open_depth_video(small_session)).find_roi()
    assert arena.roi.true_depth == 700.0
    measured = ExtractionConfig().build_extraction(open_depth_video(small_session)).find_roi()
    assert abs(measured.roi.true_depth - 680.0) < 5
    np.testing.assert_array_equal(arena.roi.mask, measured.roi.mask)


def test_unsupported_values_warn():
    with pytest.warns(ConfigWarning, match="compute_raw_scalars"):
        ExtractionConfig.from_dict({"compute_raw_scalars": True})


def test_tracking_model_keys_map_onto_the_em_tracker(small_session):
    from depthextractors import extraction

    values = {
        "use_tracking_model": True, "tracking_model_ll_threshold": -80,
        "tracking_model_mask_threshold": -12, "tracking_model_init": "med",
        "model_smoothing_clips": [-300, -150], "min_height": 8,
    }  # fmt: skip
    config = ExtractionConfig.from_dict(values)
    tracker = config.build_extraction(open_depth_video(small_session)).tracker
    assert isinstance(tracker, extraction.EMTracker)
    assert (tracker.ll_threshold, tracker.mask_threshold) == (-80.0, -12.0)
    assert tracker.init_method == "med"
    assert tracker.model_smoothing_clips == (-300.0, -150.0)
    assert tracker.min_height == 8.0


def test_flip_corrector_choice(small_session, tmp_path):
    from depthextractors import extraction

    video = open_depth_video(small_session)
    corrector = ExtractionConfig().build_extraction(video).flip_corrector
    assert isinstance(corrector, extraction.MotionFlipCorrector)
    assert ExtractionConfig(flip_corrector="none").build_extraction(video).flip_corrector is None
    missing = ExtractionConfig(flip_classifier=str(tmp_path / "nope.npz"))
    with pytest.raises(ConfigError, match="does not exist"):
        missing.build_extraction(video)
    with pytest.warns(ConfigWarning, match="odd"):
        assert (
            ExtractionConfig.from_dict({"flip_classifier_smoothing": 50}).flip_classifier_smoothing
            == 51
        )


def test_em_tracker_cable_and_smoothing_keys(small_session, tmp_path):
    from depthextractors.extraction import EMTracker

    video = open_depth_video(small_session)
    default = ExtractionConfig(use_tracking_model=True).build_extraction(video).tracker
    assert isinstance(default, EMTracker)
    assert default.cable_sigma == 2.5 == ExtractionConfig().tracking_model_cable_sigma
    assert (default.rho_mean, default.rho_cov) == (0.0, 0.0)

    values = {
        "use_tracking_model": True, "tracking_model_cable_sigma": 3,
        "tracking_model_rho_mean": 0.4, "tracking_model_rho_cov": 0.7,
    }  # fmt: skip
    tracker = ExtractionConfig.from_dict(values).build_extraction(video).tracker
    assert (tracker.cable_sigma, tracker.rho_mean, tracker.rho_cov) == (3.0, 0.4, 0.7)
    assert tracker.get_params()["cable_sigma"] == 3.0

    # null turns the cable rule off (it does not mean "keep the default" for this key).
    path = tmp_path / "config.yaml"
    path.write_text("use_tracking_model: true\ntracking_model_cable_sigma: null\n")
    config = ExtractionConfig.from_yaml(path)
    assert config.tracking_model_cable_sigma is None
    assert config.build_extraction(video).tracker.cable_sigma is None
    assert ExtractionConfig.from_yaml(config.to_yaml(tmp_path / "again.yaml")) == config
    assert ExtractionConfig(tracking_model_cable_sigma="none").tracking_model_cable_sigma is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tracking_model_cable_sigma": 0}, "tracking_model_cable_sigma must be at least"),
        ({"tracking_model_cable_sigma": "tall"}, "tracking_model_cable_sigma must be a number"),
        ({"tracking_model_rho_mean": 1}, "tracking_model_rho_mean must be below 1"),
        ({"tracking_model_rho_cov": -0.1}, "tracking_model_rho_cov must be at least 0"),
    ],
)
def test_em_tracker_key_ranges(values, message):
    with pytest.raises(ConfigError, match=message):
        ExtractionConfig.from_dict(values)
