import math

import h5py
import numpy as np
import pytest

from depthextractors.cameras import CAMERA_PRESETS, CameraModel, detect_camera, get_camera


def test_kinect_focal_length_matches_moseq2_formula_by_hand():
    kinect = CAMERA_PRESETS["kinect_v2"]
    fx, fy = kinect.focal_length_px()
    # moseq2-extract: resolution / (2 * deg2rad(fov / 2)) with (512, 424) and (70.6, 60).
    assert fx == pytest.approx(512 / (2 * (70.6 / 2) * math.pi / 180))
    assert fy == pytest.approx(424 / (2 * (60 / 2) * math.pi / 180))
    assert fx == pytest.approx(415.5161, abs=1e-3)
    assert fy == pytest.approx(404.8902, abs=1e-3)


def test_pixels_to_mm_hand_computed():
    kinect = CAMERA_PRESETS["kinect_v2"]
    # 10 px right of and 20 px above the centre pixel (256, 212) on a floor 673.1 mm away.
    mm = kinect.pixels_to_mm(np.array([[266.0, 192.0]]), 673.1)
    assert mm[0, 0] == pytest.approx(673.1 * 10 / 415.51613, rel=1e-6)
    assert mm[0, 1] == pytest.approx(673.1 * -20 / 404.89018, rel=1e-6)
    assert kinect.pixels_to_mm(np.array([256, 212]), 700.0) == pytest.approx([0.0, 0.0])


def test_mm_to_pixels_inverts_pixels_to_mm():
    rng = np.random.default_rng(0)
    for camera in CAMERA_PRESETS.values():
        pixels = rng.uniform(0, min(camera.image_size), size=(50, 2))
        back = camera.mm_to_pixels(camera.pixels_to_mm(pixels, 640.0), 640.0)
        np.testing.assert_allclose(back, pixels, atol=1e-9)


def test_mm_per_pixel_scales_with_depth():
    kinect = CAMERA_PRESETS["kinect_v2"]
    near, far = kinect.mm_per_pixel(500.0), kinect.mm_per_pixel(1000.0)
    assert far[0] == pytest.approx(2 * near[0])
    assert near[0] == pytest.approx(500 / 415.5161, rel=1e-5)


def test_reproduces_moseq2_recorded_mm_centroids(real_data):
    """moseq2-extract converts the ROI-box-relative centroid as if it were a full-frame pixel.

    Feeding the same numbers through our camera model reproduces its recorded millimetres to
    float32 precision, which pins down focal lengths and principal point.
    """
    with h5py.File(real_data / "moseq2_kinect_session" / "results_00.h5", "r") as results:
        x = results["scalars/centroid_x_px"][:]
        y = results["scalars/centroid_y_px"][:]
        x_mm = results["scalars/centroid_x_mm"][:]
        y_mm = results["scalars/centroid_y_mm"][:]
        true_depth = float(results["metadata/extraction/true_depth"][()])
    ours = CAMERA_PRESETS["kinect_v2"].pixels_to_mm(np.column_stack([x, y]), true_depth)
    np.testing.assert_allclose(ours[:, 0], x_mm, atol=1e-3)
    np.testing.assert_allclose(ours[:, 1], y_mm, atol=1e-3)


@pytest.mark.parametrize(
    ("size", "name"),
    [
        ((424, 512), "kinect_v2"),
        ((576, 640), "azure_nfov_unbinned"),
        ((288, 320), "azure_nfov_binned"),
        ((512, 512), "azure_wfov_binned"),
        ((1024, 1024), "azure_wfov_unbinned"),
        ((480, 640), "realsense_d435_640x480"),
        ((480, 848), "realsense_d435_848x480"),
        ((720, 1280), "realsense_d435_1280x720"),
    ],
)
def test_detect_camera_from_frame_size(size, name):
    camera = detect_camera(size)
    assert camera.name == name
    assert camera.image_size == size


def test_unknown_size_has_no_field_of_view():
    camera = detect_camera((10, 12))
    assert camera.name == "unknown"
    with pytest.raises(ValueError, match="field of view"):
        camera.pixels_to_mm(np.zeros(2), 600.0)


def test_get_camera_resolves_names_families_and_models():
    assert get_camera("kinect").name == "kinect_v2"
    assert get_camera("realsense", (480, 848)).name == "realsense_d435_848x480"
    assert get_camera("azure", (288, 320)).name == "azure_nfov_binned"
    assert get_camera("realsense_d415_640x480").field_of_view == (65.0, 40.0)
    custom = CameraModel("lab_cam", "unknown", (100, 120), (50.0, 40.0))
    assert get_camera(custom, (100, 120)) is custom


def test_get_camera_refuses_mismatches_and_typos():
    with pytest.raises(ValueError, match="424x512"):
        get_camera("kinect_v2", (576, 640))
    with pytest.raises(ValueError, match="unknown camera 'kinnect'"):
        get_camera("kinnect")
    with pytest.raises(TypeError):
        get_camera(3)
    with pytest.warns(UserWarning, match="no azure preset"):
        assert get_camera("azure", (10, 10)).name == "unknown"


def test_pixels_to_mm_checks_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        CAMERA_PRESETS["kinect_v2"].pixels_to_mm(np.zeros((4, 3)), 600.0)
