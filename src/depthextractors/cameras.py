"""Depth-camera models: resolution, field of view and pixel ↔ millimetre conversion.

The conversion follows moseq2-extract's ``convert_pxs_to_mm`` so that the ``*_mm`` scalars
agree with existing MoSeq results: a pinhole camera whose focal length in pixels is
``pixels / radians(field_of_view)`` (moseq2-extract writes it as
``resolution / (2 * deg2rad(fov / 2))``), centred on pixel ``(cols // 2, rows // 2)``. This is
the small-angle form of the pinhole model; it is kept on purpose for compatibility.

Each model also knows which depth values are not measurements (:attr:`CameraModel.
invalid_depths`: 0, no return; 65535, the largest uint16, a saturated or overflowing reading)
and the range of depths the camera can measure (:attr:`CameraModel.depth_range_mm`), so that
an arena floor no camera could see is refused instead of taken for data.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ANY_CAMERA_DEPTH_RANGE_MM",
    "CAMERA_PRESETS",
    "DEFAULT_SAMPLING_FREQUENCY",
    "INVALID_DEPTHS",
    "CameraModel",
    "detect_camera",
    "get_camera",
]

#: Frame rate (Hz) assumed when a recording gives none and none is passed: the rate every
#: supported camera records at by default, and moseq2-extract's assumption.
DEFAULT_SAMPLING_FREQUENCY = 30.0

#: Depth values that are no measurement on every supported camera: 0 (no return: the Kinect
#: v2 SDK, the Azure Kinect SDK and librealsense all mark invalid pixels so) and 65535 (the
#: largest uint16: a saturated or overflowing reading, as a RealSense bag can hold).
INVALID_DEPTHS: tuple[int, ...] = (0, 65535)


@dataclass(frozen=True)
class CameraModel:
    """A depth camera: image geometry and depth unit.

    Parameters
    ----------
    name : str
        Preset name, e.g. ``"kinect_v2"``; ``"unknown"`` when the camera could not be identified.
    family : str
        ``"kinect"``, ``"azure"``, ``"realsense"`` or ``"unknown"``. Extraction defaults that
        moseq2-extract chooses per camera (such as the arena-ranking weights) follow the family.
    image_size : tuple of int
        ``(rows, cols)`` of a depth frame, in pixels.
    field_of_view : tuple of float or None
        ``(horizontal, vertical)`` field of view in degrees; ``None`` when unknown, in which case
        pixel ↔ millimetre conversion raises.
    depth_unit_mm : float
        Millimetres per raw depth count (1.0 for every supported camera after decoding).
    depth_range_mm : tuple of float or None
        ``(nearest, farthest)`` depth in millimetres the camera can measure; ``None`` when
        unknown, in which case the widest range of any supported camera
        (:data:`ANY_CAMERA_DEPTH_RANGE_MM`) stands in.
    invalid_depths : tuple of int
        Depth values that mean "no measurement" rather than a distance
        (:data:`INVALID_DEPTHS`: 0 and 65535 by default); they are left out of the background,
        the arena's floor and the heights.
    """

    name: str
    family: str
    image_size: tuple[int, int]
    field_of_view: tuple[float, float] | None
    depth_unit_mm: float = 1.0
    depth_range_mm: tuple[float, float] | None = None
    invalid_depths: tuple[int, ...] = INVALID_DEPTHS

    @property
    def rows(self) -> int:
        """Image height in pixels."""
        return self.image_size[0]

    @property
    def cols(self) -> int:
        """Image width in pixels."""
        return self.image_size[1]

    @property
    def principal_point(self) -> tuple[int, int]:
        """``(x, y)`` pixel taken as the optical centre: ``(cols // 2, rows // 2)``."""
        return self.cols // 2, self.rows // 2

    @property
    def visible_range_mm(self) -> tuple[float, float]:
        """:attr:`depth_range_mm`, or :data:`ANY_CAMERA_DEPTH_RANGE_MM` when it is unknown."""
        return self.depth_range_mm if self.depth_range_mm is not None else ANY_CAMERA_DEPTH_RANGE_MM

    def invalid_mask(self, depth: np.ndarray) -> np.ndarray:
        """Where ``depth`` holds one of :attr:`invalid_depths` (no measurement).

        Parameters
        ----------
        depth : numpy.ndarray
            Depth in millimetres, any shape.

        Returns
        -------
        numpy.ndarray
            bool, the shape of ``depth``.
        """
        depth = np.asarray(depth)
        mask = np.zeros(depth.shape, dtype=bool)
        for code in self.invalid_depths:
            mask |= depth == code
        return mask

    def focal_length_px(self) -> tuple[float, float]:
        """``(fx, fy)`` focal lengths in pixels, as moseq2-extract computes them.

        Raises
        ------
        ValueError
            If the field of view is unknown.
        """
        if self.field_of_view is None:
            raise ValueError(
                f"camera {self.name!r} has no field of view, so pixels cannot be converted to "
                "millimetres; pass a camera preset (e.g. camera='kinect_v2') or a CameraModel "
                "with field_of_view=(horizontal_deg, vertical_deg)."
            )
        fov_x, fov_y = self.field_of_view
        return self.cols / math.radians(fov_x), self.rows / math.radians(fov_y)

    def mm_per_pixel(self, depth_mm: float) -> tuple[float, float]:
        """Size of one pixel ``(x, y)`` in millimetres on a plane ``depth_mm`` from the camera.

        Parameters
        ----------
        depth_mm : float
            Distance from the camera to the plane, millimetres.

        Returns
        -------
        (float, float)
            Millimetres per pixel along x (columns) and y (rows).
        """
        fx, fy = self.focal_length_px()
        return depth_mm / fx, depth_mm / fy

    def pixels_to_mm(self, coords_px: np.ndarray, depth_mm: float) -> np.ndarray:
        """Convert full-frame pixel coordinates to millimetres on a plane at ``depth_mm``.

        Parameters
        ----------
        coords_px : array_like, shape (..., 2)
            ``(x, y)`` pixel coordinates in the full frame (x = column, y = row).
        depth_mm : float
            Distance from the camera to the plane, in millimetres (moseq2's "true depth").

        Returns
        -------
        numpy.ndarray, shape (..., 2)
            ``(x, y)`` in millimetres relative to the optical centre, float64.
        """
        coords = _as_xy(coords_px, "coords_px")
        fx, fy = self.focal_length_px()
        cx, cy = self.principal_point
        out = np.empty_like(coords)
        out[..., 0] = depth_mm * (coords[..., 0] - cx) / fx
        out[..., 1] = depth_mm * (coords[..., 1] - cy) / fy
        return out

    def mm_to_pixels(self, coords_mm: np.ndarray, depth_mm: float) -> np.ndarray:
        """Inverse of :meth:`pixels_to_mm`: millimetres at ``depth_mm`` to full-frame pixels.

        Parameters
        ----------
        coords_mm : array_like, shape (..., 2)
            ``(x, y)`` in millimetres relative to the optical centre.
        depth_mm : float
            Distance from the camera to the plane, millimetres.

        Returns
        -------
        numpy.ndarray, shape (..., 2)
            ``(x, y)`` full-frame pixel coordinates (x = column, y = row), float64.
        """
        coords = _as_xy(coords_mm, "coords_mm")
        fx, fy = self.focal_length_px()
        cx, cy = self.principal_point
        out = np.empty_like(coords)
        out[..., 0] = coords[..., 0] * fx / depth_mm + cx
        out[..., 1] = coords[..., 1] * fy / depth_mm + cy
        return out


def _as_xy(coords: np.ndarray, name: str) -> np.ndarray:
    """``coords`` as float64 ``(..., 2)`` (x, y) pairs."""
    array = np.asarray(coords, dtype=np.float64)
    if array.shape[-1:] != (2,):
        raise ValueError(f"{name} must have shape (..., 2) of (x, y); got {array.shape}")
    return array


def _preset(
    name: str,
    family: str,
    rows: int,
    cols: int,
    fov: tuple[float, float],
    depth_range_mm: tuple[float, float],
) -> CameraModel:
    return CameraModel(
        name=name, family=family, image_size=(rows, cols), field_of_view=fov,
        depth_range_mm=depth_range_mm,
    )  # fmt: skip


# Depth ranges, from the manufacturers' documents:
# - Kinect v2: the Kinect for Windows SDK 2.0 reports depths from 500 mm
#   (DepthFrameSource.DepthMinReliableDistance) to 8000 mm (values past
#   DepthMaxReliableDistance, 4500 mm, are still reported, up to 8 m).
# - Azure Kinect DK hardware specification, "Depth camera supported operating modes":
#   NFOV unbinned 0.5-3.86 m, NFOV 2x2 binned 0.5-5.46 m, WFOV 2x2 binned 0.25-2.88 m,
#   WFOV unbinned 0.25-2.21 m.
# - Intel RealSense D400 series datasheet: minimum depth (Min-Z) at the lowest resolution about
#   105 mm (D435) / 160 mm (D415), more at full resolution; range up to about 10 m.
_KINECT_V2_RANGE = (500.0, 8000.0)
_D435_RANGE = (105.0, 10000.0)
_D415_RANGE = (160.0, 10000.0)
# Fields of view are the manufacturers' nominal depth fields of view (Kinect v2: the value
# moseq2-extract uses).
CAMERA_PRESETS: dict[str, CameraModel] = {
    camera.name: camera
    for camera in (
        _preset("kinect_v2", "kinect", 424, 512, (70.6, 60.0), _KINECT_V2_RANGE),
        _preset("azure_nfov_unbinned", "azure", 576, 640, (75.0, 65.0), (500.0, 3860.0)),
        _preset("azure_nfov_binned", "azure", 288, 320, (75.0, 65.0), (500.0, 5460.0)),
        _preset("azure_wfov_binned", "azure", 512, 512, (120.0, 120.0), (250.0, 2880.0)),
        _preset("azure_wfov_unbinned", "azure", 1024, 1024, (120.0, 120.0), (250.0, 2210.0)),
        _preset("realsense_d435_640x480", "realsense", 480, 640, (87.0, 58.0), _D435_RANGE),
        _preset("realsense_d435_848x480", "realsense", 480, 848, (87.0, 58.0), _D435_RANGE),
        _preset("realsense_d435_1280x720", "realsense", 720, 1280, (87.0, 58.0), _D435_RANGE),
        _preset("realsense_d415_640x480", "realsense", 480, 640, (65.0, 40.0), _D415_RANGE),
        _preset("realsense_d415_848x480", "realsense", 480, 848, (65.0, 40.0), _D415_RANGE),
        _preset("realsense_d415_1280x720", "realsense", 720, 1280, (65.0, 40.0), _D415_RANGE),
    )
}

#: The widest range of depths any supported camera measures, mm: what a camera of unknown
#: range is assumed to see.
ANY_CAMERA_DEPTH_RANGE_MM: tuple[float, float] = (
    min(camera.depth_range_mm[0] for camera in CAMERA_PRESETS.values()),
    max(camera.depth_range_mm[1] for camera in CAMERA_PRESETS.values()),
)

# Short names users type (as moseq2-extract's --camera-type) and the preset each picks first.
_FAMILY_ALIASES = {"kinect": "kinect_v2", "azure": "azure_nfov_unbinned", "realsense": None}

# When only the frame size is known, the first preset of this order with that size is taken.
# RealSense D435 is preferred over D415: both share resolutions and the D435 is the more common.
_DETECTION_ORDER = [
    "kinect_v2",
    "azure_nfov_unbinned",
    "azure_nfov_binned",
    "azure_wfov_binned",
    "azure_wfov_unbinned",
    "realsense_d435_640x480",
    "realsense_d435_848x480",
    "realsense_d435_1280x720",
]


def detect_camera(image_size: tuple[int, int], family: str | None = None) -> CameraModel:
    """Identify the camera from the frame size, as moseq2-extract does.

    Parameters
    ----------
    image_size : tuple of int
        ``(rows, cols)`` of a frame, in pixels.
    family : str, optional
        Restrict the search to ``"kinect"``, ``"azure"`` or ``"realsense"``.

    Returns
    -------
    CameraModel
        The matching preset, or a ``CameraModel`` named ``"unknown"`` (no field of view) when no
        preset has that size.
    """
    rows, cols = (int(v) for v in image_size)
    for name in _DETECTION_ORDER:
        camera = CAMERA_PRESETS[name]
        if camera.image_size == (rows, cols) and family in (None, camera.family):
            return camera
    return CameraModel(
        name="unknown", family=family or "unknown", image_size=(rows, cols), field_of_view=None
    )


def get_camera(camera: str | CameraModel, image_size: tuple[int, int] | None = None) -> CameraModel:
    """Resolve a camera argument into a :class:`CameraModel`.

    Parameters
    ----------
    camera : str or CameraModel
        ``"auto"`` (detect from ``image_size``), a family name (``"kinect"``, ``"azure"``,
        ``"realsense"``; the preset of that family with ``image_size``), a preset name from
        :data:`CAMERA_PRESETS`, or a ``CameraModel`` used as is.
    image_size : tuple of int, optional
        ``(rows, cols)`` of the frames. Required for ``"auto"`` and family names; when given with
        a preset, a size mismatch raises.

    Returns
    -------
    CameraModel
    """
    if isinstance(camera, CameraModel):
        model = camera
    elif not isinstance(camera, str):
        raise TypeError(f"camera must be a string or a CameraModel, got {type(camera).__name__}")
    elif camera == "auto" or camera in _FAMILY_ALIASES:
        if image_size is None:
            alias = _FAMILY_ALIASES.get(camera)
            if alias is None:
                raise ValueError(
                    f"camera={camera!r} needs the frame size to choose a preset; "
                    f"pass one of {sorted(CAMERA_PRESETS)}"
                )
            return CAMERA_PRESETS[alias]
        model = detect_camera(image_size, None if camera == "auto" else camera)
        if model.name == "unknown" and camera != "auto":
            warnings.warn(
                f"no {camera} preset has frames of {image_size[0]}x{image_size[1]} (rows x cols); "
                "pixel-to-millimetre conversion will be unavailable unless a CameraModel with a "
                "field of view is given",
                stacklevel=2,
            )
        return model
    elif camera in CAMERA_PRESETS:
        model = CAMERA_PRESETS[camera]
    else:
        raise ValueError(
            f"unknown camera {camera!r}; expected 'auto', 'kinect', 'azure', 'realsense', "
            f"one of {sorted(CAMERA_PRESETS)}, or a CameraModel"
        )
    if image_size is not None and tuple(image_size) != model.image_size:
        raise ValueError(
            f"camera {model.name!r} has {model.rows}x{model.cols} (rows x cols) frames but the "
            f"recording has {image_size[0]}x{image_size[1]}; use camera='auto' or the preset that "
            "matches the recording"
        )
    return model
