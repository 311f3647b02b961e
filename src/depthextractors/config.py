"""One typed, validated extraction configuration, read from and written to YAML.

:class:`ExtractionConfig` holds every parameter of ``depthextractors extract`` under
moseq2-extract's names and with moseq2-extract's defaults (its documented command-line options),
so an existing moseq2 ``config.yaml`` is read as it is:

- keys this package knows are type-checked and range-checked; a wrong value raises
  :class:`ConfigError` with one line naming the key, the value and what is allowed;
- even median filter sizes are raised to the next odd number with a warning, as moseq2-extract
  does;
- keys moseq2-extract wrote that have no meaning here (``cluster_type``, ``pixel_format``,
  ``movie_dtype``, SLURM settings, ...) and keys nobody knows are reported with a
  :class:`ConfigWarning` and ignored, never fatal.

:meth:`ExtractionConfig.build_extraction` is the one place where the configuration is mapped
onto the strategy objects of :mod:`depthextractors.extraction` (background, arena ROI, filters,
tracker, Hampel filters, flip corrector) and a ``SessionExtraction``.

Example
-------
>>> from depthextractors.config import ExtractionConfig
>>> config = ExtractionConfig.from_yaml("config.yaml")          # doctest: +SKIP
>>> extraction = config.build_extraction(open_depth_video("session_01"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CAMERA_TYPES",
    "IGNORED_MOSEQ2_KEYS",
    "RUN_KEYS",
    "ConfigError",
    "ConfigWarning",
    "ExtractionConfig",
    "option_specs",
]

logger = logging.getLogger(__name__)

#: Values of ``camera_type``; ``auto`` takes the camera the recording says it comes from.
CAMERA_TYPES = ("auto", "kinect", "azure", "realsense")

#: moseq2-extract keys that belong to one command-line run, not to the extraction parameters.
#: They are accepted in a config file without a warning and ignored there, as moseq2-extract
#: ignores ``input_dir`` / ``output_dir`` / ``output_file`` from its config file.
RUN_KEYS = frozenset(
    {
        "config_file",
        "input_dir",
        "output_dir",
        "output_file",
        "progress_bar",
        "skip_completed",
        "delete",
        "fps",
        "threads",
        "mapping",
        "extensions",
    }
)

#: moseq2-extract keys that have no meaning in depthextractors, with the reason shown in the
#: warning when a config file sets them.
IGNORED_MOSEQ2_KEYS: dict[str, str] = {
    "cluster_type": "batch-extract runs locally (--n-jobs) or on Dask (--scheduler-address)",
    "prefix": "SLURM is reached through dask-jobqueue, see docs/batch.md",
    "ncpus": "use batch-extract --n-jobs",
    "memory": "SLURM is reached through dask-jobqueue, see docs/batch.md",
    "wall_time": "SLURM is reached through dask-jobqueue, see docs/batch.md",
    "partition": "SLURM is reached through dask-jobqueue, see docs/batch.md",
    "get_cmd": "batch-extract runs the sessions itself",
    "run_cmd": "batch-extract runs the sessions itself",
    "extract_out_script": "batch-extract runs the sessions itself",
    "skip_checks": "sessions are found by their depth files; metadata.json is optional",
    "session_config_path": "pass one --config-file per batch",
    "pixel_format": "the reader of each format knows its pixel format",
    "movie_dtype": "the reader of each format knows its data type",
    "recompute_bg": "the background is computed on every extraction",
    "graduate_walls": "not implemented: wall graduation of dilated arenas",
    "widen_radius": "not implemented: wall graduation of dilated arenas",
    "finfo": "frame information is read from the recording",
    "timestamps": "timestamps are read from the recording",
    "tar": "archives are read in place",
    "true_depth": "the true depth is measured (use detected_true_depth to override it)",
}

# Parameter groups, for the command line: which commands take which options.
_ROI = "roi"
_EXTRACT = "extract"


class ConfigError(ValueError):
    """A configuration value or file is wrong; the message is one line saying what and why."""


class ConfigWarning(UserWarning):
    """A configuration key is unknown or obsolete (ignored), or a value was adjusted."""


def _opt(
    default: Any,
    kind: str,
    help: str,
    group: str = _EXTRACT,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    short: str | None = None,
    supported: bool = True,
) -> Any:
    """A dataclass field carrying what the validator and the command line need to know."""
    metadata = {
        "kind": kind,
        "help": help,
        "group": group,
        "minimum": minimum,
        "maximum": maximum,
        "choices": choices,
        "short": short,
        "supported": supported,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default.copy(), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class ExtractionConfig:
    """Every extraction parameter, under moseq2-extract's name, with its default.

    Kinds of value: ``pair`` and ``triple`` are 2- and 3-element sequences (YAML lists);
    heights and depths are millimetres, sizes pixels, spans and chunks frames.
    Parameters marked *not supported* are accepted (so moseq2 config files load) but only their
    default value is implemented; setting another value warns and keeps the default behaviour.

    The attributes (one per moseq2-extract key) are documented in :func:`option_specs` and by
    ``depthextractors extract --help``; :meth:`build_extraction` says how each maps onto a
    strategy.
    """

    # ----------------------------------------------------------------- arena and background
    bg_roi_depth_range: tuple[float, float] = _opt(
        (650.0, 750.0), "pair_float",
        "Range to search for floor of arena (mm); used when manual_set_depth_range is true or "
        "the range differs from the default, otherwise the floor depth is found automatically",
        _ROI, minimum=0,
    )  # fmt: skip
    manual_set_depth_range: bool = _opt(
        False, "bool", "Always use bg_roi_depth_range instead of finding the floor depth", _ROI
    )
    bg_roi_weights: tuple[float, float, float] = _opt(
        (1.0, 0.1, 1.0), "triple_float",
        "ROI feature weighting (area, extent, dist); camera_type kinect/azure/realsense sets it "
        "to moseq2-extract's value for that camera", _ROI,
    )  # fmt: skip
    camera_type: str = _opt(
        "auto", "choice",
        "Camera used for the recording (auto: from the file); sets the frame size of raw files "
        "without metadata.json and bg_roi_weights", _ROI, choices=CAMERA_TYPES,
    )  # fmt: skip
    bg_roi_dilate: tuple[int, int] = _opt(
        (10, 10), "pair_int", "Size of strel to dilate roi (pixels)", _ROI, minimum=0
    )
    bg_roi_shape: str = _opt(
        "ellipse", "choice", "Shape to use to dilate roi", _ROI,
        choices=("ellipse", "rect", "rectangle"),
    )  # fmt: skip
    bg_roi_index: int = _opt(
        0, "int", "Index of which background mask to use (0: best ranked)", _ROI, minimum=0
    )
    bg_roi_fill_holes: bool = _opt(True, "bool", "Fill holes in ROI", _ROI)
    bg_roi_gradient_filter: bool = _opt(
        False, "bool", "Exclude walls with gradient filtering", _ROI
    )
    bg_roi_gradient_threshold: float = _opt(
        3000.0, "float", "Gradient must be < this to include points", _ROI, minimum=0
    )
    bg_roi_gradient_kernel: int = _opt(
        7, "choice_int", "Kernel size for Sobel gradient filtering (1, 3, 5 or 7)", _ROI,
        choices=("1", "3", "5", "7"),
    )  # fmt: skip
    bg_roi_erode: tuple[int, int] = _opt(
        (1, 1), "pair_int", "Size of cv2 Structure Element to erode roi (pixels)", _ROI, minimum=0
    )
    erode_iterations: int = _opt(
        0, "int", "Number of erosion iterations to decrease bucket floor size", _ROI, minimum=0
    )
    dilate_iterations: int = _opt(
        0, "int", "Number of dilation iterations to increase bucket floor size", _ROI, minimum=0
    )
    noise_tolerance: float = _opt(
        30.0, "float", "Extent of noise (mm) to accept during RANSAC plane ROI computation", _ROI,
        minimum=1e-9,
    )  # fmt: skip
    bg_sort_roi_by_position: bool = _opt(
        False, "bool", "Sort ROIs by position", _ROI, supported=False
    )
    bg_sort_roi_by_position_max_rois: int = _opt(
        2, "int", "Max original ROIs to sort by position", _ROI, minimum=1
    )
    use_plane_bground: bool = _opt(
        False, "bool", "Use a plane fit for the background (mice that don't move much)", _ROI
    )
    # ----------------------------------------------------------------- extraction
    crop_size: tuple[int, int] = _opt(
        (80, 80), "pair_int", "Width and height of cropped mouse image (pixels)",
        short="-c", minimum=2,
    )  # fmt: skip
    num_frames: int | None = _opt(
        None, "int_or_none", "Number of frames to extract (all when not set)", short="-n",
        minimum=1,
    )  # fmt: skip
    min_height: float = _opt(10.0, "float", "Min mouse height from floor (mm)", minimum=0)
    max_height: float = _opt(100.0, "float", "Max mouse height from floor (mm)", minimum=0)
    detected_true_depth: str = _opt(
        "auto", "auto_or_float",
        "Floor depth (mm) instead of the one measured in the ROI: 'auto' or a number",
    )  # fmt: skip
    compute_raw_scalars: bool = _opt(
        False, "bool", "Compute scalar values from raw cropped frames", supported=False
    )
    flip_classifier: str | None = _opt(
        None, "path_or_none",
        "Flip classifier (a model saved by depthextractors) to orient the mouse; without one "
        "the motion-based corrector is used",
    )  # fmt: skip
    flip_classifier_smoothing: int = _opt(
        51, "filter_size", "Number of frames to smooth flip classifier probabilities (odd)",
        minimum=0,
    )  # fmt: skip
    use_cc: bool = _opt(True, "bool", "Extract features using largest connected components")
    use_tracking_model: bool = _opt(
        False, "bool",
        "Use an expectation-maximization style model to aid mouse tracking (cables)",
    )  # fmt: skip
    tracking_model_ll_threshold: float = _opt(
        -100.0, "float", "Threshold on log-likelihood for pixels to use for update during tracking"
    )
    tracking_model_mask_threshold: float = _opt(
        -16.0, "float",
        "Threshold on log-likelihood to include pixels for centroid and angle calculation",
    )  # fmt: skip
    tracking_model_ll_clip: float = _opt(-100.0, "float", "Clip log-likelihoods below this value")
    tracking_model_segment: bool = _opt(True, "bool", "Segment likelihood mask from tracking model")
    tracking_model_init: str = _opt(
        "raw", "choice", "Method for tracking model initialization",
        choices=("raw", "min", "med"),
    )  # fmt: skip
    tracking_model_rho_mean: float = _opt(
        0.0, "float",
        "EM tracker: weight of the previous frame's mean in the new one (0: no smoothing; < 1)",
        minimum=0,
    )  # fmt: skip
    tracking_model_rho_cov: float = _opt(
        0.0, "float",
        "EM tracker: weight of the previous frame's covariance in the new one (0: no smoothing; "
        "< 1)", minimum=0,
    )  # fmt: skip
    tracking_model_cable_sigma: float | None = _opt(
        2.5, "float_or_none",
        "EM tracker: pixels taller than the model's mean height plus this many standard "
        "deviations are cable, not animal (null: no cable rule)", minimum=1e-9,
    )  # fmt: skip
    cable_filter_iters: int = _opt(0, "int", "Number of cable filter iterations", minimum=0)
    cable_filter_shape: str = _opt(
        "rectangle", "choice", "Cable filter shape", choices=("rectangle", "rect", "ellipse")
    )
    cable_filter_size: tuple[int, int] = _opt(
        (5, 5), "pair_int", "Cable filter size (pixels)", minimum=1
    )
    tail_filter_iters: int = _opt(1, "int", "Number of tail filter iterations", minimum=0)
    tail_filter_size: tuple[int, int] = _opt(
        (9, 9), "pair_int", "Tail filter size (pixels)", minimum=1
    )
    tail_filter_shape: str = _opt(
        "ellipse", "choice", "Tail filter shape", choices=("ellipse", "rectangle", "rect")
    )
    spatial_filter_size: int = _opt(
        3, "filter_size", "Space prefilter kernel (median filter, must be odd; 0: off)",
        short="-s", minimum=0,
    )  # fmt: skip
    temporal_filter_size: int = _opt(
        0, "filter_size", "Time prefilter kernel (median filter, must be odd; 0: off)", minimum=0
    )
    chunk_size: int = _opt(
        1000, "int",
        "Frames processed per chunk; memory grows with it (moseq2-extract's default is 3000: "
        "about 600 MB peak for a Kinect session instead of 380 MB)", short="-b", minimum=1,
    )  # fmt: skip
    chunk_overlap: int = _opt(
        0, "int", "Frames overlapped in each chunk. Useful for cable tracking", minimum=0
    )
    write_movie: bool = _opt(
        True, "bool", "Write a results_00.mp4 preview movie including the extracted mouse"
    )
    frame_dtype: str = _opt(
        "uint8", "choice", "Data type for processed frames", choices=("uint8", "uint16")
    )
    centroid_hampel_span: int = _opt(0, "int", "Hampel filter span (frames; 0: off)", minimum=0)
    centroid_hampel_sig: float = _opt(3.0, "float", "Hampel filter sig", minimum=1e-9)
    angle_hampel_span: int = _opt(0, "int", "Angle filter span (frames; 0: off)", minimum=0)
    angle_hampel_sig: float = _opt(3.0, "float", "Angle filter sig", minimum=1e-9)
    model_smoothing_clips: tuple[float, float] = _opt(
        (0.0, 0.0), "pair_float", "Model smoothing clips (EM tracker log-likelihoods)"
    )
    frame_trim: tuple[int, int] = _opt(
        (0, 0), "pair_int", "Frames to trim from beginning and end of data", minimum=0
    )
    compress: bool = _opt(
        False, "bool", "Convert .dat to lossless .avi after successful extraction"
    )
    compress_chunk_size: int = _opt(3000, "int", "Chunk size for .avi compression", minimum=1)
    compress_threads: int = _opt(3, "int", "Number of threads for encoding", minimum=0)
    # ----------------------------------------------------------------- depthextractors only
    write_report: bool = _opt(
        True, "bool", "Write report.html (pictures and quality figures) after the extraction"
    )
    bg_roi_seed: int = _opt(
        0, "int", "Seed of the RANSAC plane fit (same seed, same ROI)", _ROI, minimum=0
    )
    flip_corrector: str = _opt(
        "motion", "choice",
        "Flip correction without a classifier: 'motion' (heading from movement and body shape) "
        "or 'none'", choices=("motion", "none"),
    )  # fmt: skip

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        for spec in fields(self):
            setattr(self, spec.name, _coerce(spec, getattr(self, spec.name)))
        self._check_relations()

    def _check_relations(self) -> None:
        if self.min_height >= self.max_height:
            raise ConfigError(
                f"min_height ({self.min_height:g} mm) must be below max_height "
                f"({self.max_height:g} mm)"
            )
        if self.frame_dtype == "uint8" and self.max_height > 255:
            raise ConfigError(
                f"max_height {self.max_height:g} mm does not fit frame_dtype uint8 (at most "
                "255 mm); set frame_dtype: uint16"
            )
        for name in ("tracking_model_rho_mean", "tracking_model_rho_cov"):
            # rho = 1 would freeze the model at its first frame: the tracker refuses it.
            if getattr(self, name) >= 1:
                raise ConfigError(f"{name} must be below 1, got {getattr(self, name)!r}")
        low, high = self.bg_roi_depth_range
        if low >= high:
            raise ConfigError(
                f"bg_roi_depth_range must be (min, max) with min < max, got [{low:g}, {high:g}]"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> ExtractionConfig:
        """Build a configuration from a mapping of moseq2-style keys.

        Parameters
        ----------
        values : dict
            Keys as in a moseq2 ``config.yaml``. Dashes are accepted for underscores.
        source : str
            Name used in warnings and errors (e.g. the file path).

        Returns
        -------
        ExtractionConfig

        Raises
        ------
        ConfigError
            On a value of the wrong type or out of range (one line naming the key).

        Warns
        -----
        ConfigWarning
            For keys that are unknown, obsolete, or set to a value not supported here.
        """
        if not isinstance(values, dict):
            raise ConfigError(
                f"{source}: expected a mapping of parameter names to values, got "
                f"{type(values).__name__}"
            )
        known = {spec.name: spec for spec in fields(cls)}
        accepted: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key in known:
                if value is None and known[key].metadata["kind"] not in (
                    "int_or_none", "path_or_none", "float_or_none",
                ):  # fmt: skip
                    # moseq2 writes null for options it never set: keep the default.
                    continue
                accepted[key] = value
            elif key in RUN_KEYS:
                continue
            elif key in IGNORED_MOSEQ2_KEYS:
                warnings.warn(
                    f"{source}: '{key}' is a moseq2-extract setting with no effect here "
                    f"({IGNORED_MOSEQ2_KEYS[key]}); ignored",
                    ConfigWarning,
                    stacklevel=2,
                )
            else:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                warnings.warn(
                    f"{source}: unknown key '{key}'{hint}; ignored", ConfigWarning, stacklevel=2
                )
        try:
            config = cls(**accepted)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        config._warn_unsupported(source)
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ExtractionConfig:
        """Read a configuration file (a moseq2-extract ``config.yaml`` works as it is).

        Parameters
        ----------
        path : str or os.PathLike
            YAML file holding a mapping of moseq2-style keys; an empty file gives the defaults.

        Returns
        -------
        ExtractionConfig
            The validated configuration.

        Raises
        ------
        ConfigError
            If the file is missing, is not valid YAML, is not a mapping, or holds a bad value.
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            with open(path, encoding="utf-8") as stream:
                content = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read config file {path}: {error}") from None
        if content is None:
            content = {}
        return cls.from_dict(content, source=str(path))

    def updated(self, values: dict[str, Any], source: str = "command line") -> ExtractionConfig:
        """A copy with ``values`` (moseq2 keys) replacing the current ones, validated again.

        Parameters
        ----------
        values : dict
            Keys as in a moseq2 ``config.yaml`` (dashes are accepted for underscores).
        source : str
            Name used in warnings and errors.

        Returns
        -------
        ExtractionConfig
            A new configuration; ``self`` is not modified.

        Raises
        ------
        ConfigError
            On a value of the wrong type or out of range.
        """
        merged = self.to_dict()
        merged.update({k.replace("-", "_"): v for k, v in values.items()})
        return type(self).from_dict(merged, source=source)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready mapping (tuples as lists), keys in declaration order."""
        out: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            out[spec.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_yaml(self, path: str | os.PathLike) -> Path:
        """Write the configuration as YAML (readable by :meth:`from_yaml` and by moseq2).

        Parameters
        ----------
        path : str or os.PathLike
            File to write; an existing file is overwritten.

        Returns
        -------
        Path
            ``path`` as a :class:`~pathlib.Path`.

        Raises
        ------
        OSError
            If the file cannot be written.
        """
        path = Path(path)
        with open(path, "w", encoding="utf-8") as stream:
            yaml.safe_dump(self.to_dict(), stream, sort_keys=False)
        return path

    # ------------------------------------------------------------------ checks
    def _warn_unsupported(self, source: str) -> None:
        for spec in fields(self):
            if spec.metadata["supported"]:
                continue
            default = spec.default
            if getattr(self, spec.name) != _coerce(spec, default):
                warnings.warn(
                    f"{source}: {spec.name}={getattr(self, spec.name)!r} is not supported by "
                    f"this version; the default ({default!r}) behaviour is used",
                    ConfigWarning,
                    stacklevel=3,
                )
        if self.use_tracking_model and _optional("extraction", "EMTracker") is None:
            warnings.warn(
                f"{source}: use_tracking_model is set but this version has no EM tracker; the "
                "moments tracker is used (cable_filter_iters helps with cables)",
                ConfigWarning,
                stacklevel=3,
            )
        if self.flip_classifier is not None and _optional(
            "extraction", "ClassifierFlipCorrector"
        ) is None:  # fmt: skip
            warnings.warn(
                f"{source}: flip_classifier is set but this version cannot load classifiers; "
                "the motion-based flip corrector is used",
                ConfigWarning,
                stacklevel=3,
            )

    def depth_range(self) -> tuple[float, float] | None:
        """The floor depth range to use, or ``None`` to find it automatically.

        As moseq2-extract since its automatic range: the range is found from the background
        unless ``manual_set_depth_range`` is set. A range other than the default counts as set
        by hand too, because a user who wrote one wants it used.
        """
        default = _coerce(_field("bg_roi_depth_range"), _field("bg_roi_depth_range").default)
        if self.manual_set_depth_range or self.bg_roi_depth_range != default:
            return self.bg_roi_depth_range
        return None

    def roi_weights(self) -> tuple[float, float, float] | None:
        """ROI weights: the camera family's (moseq2's camera_type rule) unless set by hand.

        ``camera_type`` kinect / azure / realsense gives that camera's weights, as
        moseq2-extract; ``auto`` takes them from the recording's camera (``None`` here) unless
        ``bg_roi_weights`` differs from the default.
        """
        from .extraction.roi import CAMERA_ROI_WEIGHTS

        default = _coerce(_field("bg_roi_weights"), _field("bg_roi_weights").default)
        if self.bg_roi_weights != default:
            return self.bg_roi_weights
        if self.camera_type in CAMERA_ROI_WEIGHTS:
            return CAMERA_ROI_WEIGHTS[self.camera_type]
        return None

    # ------------------------------------------------------------------ strategies
    def open_video(self, path: str | os.PathLike) -> Any:
        """Open the recording with ``camera_type`` applied (``open_depth_video``).

        Parameters
        ----------
        path : str or os.PathLike
            A depth file or a session directory holding one.

        Returns
        -------
        DepthVideoExtractor
            The extractor registered for the file type.

        Raises
        ------
        FileNotFoundError
            If nothing exists at ``path``.
        ValueError
            If no registered extractor reads the file, or a directory holds several recordings.
        """
        from .extractors import open_depth_video

        return open_depth_video(path, camera=self.camera_type)

    def build_extraction(self, extractor: Any, n_jobs: int = 2) -> Any:
        """Map the configuration onto strategy objects and a ``SessionExtraction``.

        This is the only place where configuration keys meet the strategy classes:

        ======================================  ==============================================
        keys                                    strategy
        ======================================  ==============================================
        ``use_plane_bground``                   ``PlaneFitBackground`` else
                                                ``StridedMedianBackground``
        ``bg_roi_*``, ``dilate_iterations``,    ``PlaneROI`` (depth range from
        ``erode_iterations``,                   :meth:`depth_range`, weights from
        ``noise_tolerance``, ``camera_type``    :meth:`roi_weights`)
        ``min_height``, ``max_height``,         ``MomentsTracker`` (``EMTracker`` with
        ``use_cc``, ``use_tracking_model``      ``use_tracking_model`` when available)
        ``tracking_model_*``,                   ``EMTracker`` (``tracking_model_rho_mean``,
        ``model_smoothing_clips``               ``_rho_cov``, ``_cable_sigma`` become
                                                ``rho_mean``, ``rho_cov``, ``cable_sigma``)
        ``spatial_/temporal_filter_size``,      ``FrameFilters``
        ``tail_filter_*``, ``cable_filter_*``
        ``centroid_/angle_hampel_*``            ``HampelFilter`` (one each)
        ``flip_classifier``, ``flip_corrector`` ``ClassifierFlipCorrector.load`` /
                                                ``MotionFlipCorrector`` / none
        ``crop_size``, ``chunk_size``,          ``SessionExtraction`` arguments
        ``chunk_overlap``, ``frame_trim``,
        ``num_frames``, ``frame_dtype``
        ======================================  ==============================================

        Parameters
        ----------
        extractor : DepthVideoExtractor
            The recording.
        n_jobs : int, default 2
            Threads of the extraction (sessions run in parallel each get fewer).

        Returns
        -------
        SessionExtraction
        """
        from .extraction import (
            FrameFilters,
            HampelFilter,
            MomentsTracker,
            PlaneFitBackground,
            PlaneROI,
            SessionExtraction,
            StridedMedianBackground,
        )

        roi = PlaneROI(
            depth_range=self.depth_range(),
            weights=self.roi_weights(),
            dilate=self.bg_roi_dilate,
            dilate_iterations=self.dilate_iterations,
            erode=self.bg_roi_erode,
            erode_iterations=self.erode_iterations,
            shape="rect" if self.bg_roi_shape in ("rect", "rectangle") else "ellipse",
            index=self.bg_roi_index,
            fill_holes=self.bg_roi_fill_holes,
            gradient_filter=self.bg_roi_gradient_filter,
            gradient_threshold=self.bg_roi_gradient_threshold,
            gradient_kernel=self.bg_roi_gradient_kernel,
            noise_tolerance=self.noise_tolerance,
            seed=self.bg_roi_seed,
        )
        if self.detected_true_depth != "auto":
            roi = _FixedTrueDepthROI(roi, float(self.detected_true_depth))
        background = PlaneFitBackground(roi=roi) if self.use_plane_bground else (
            StridedMedianBackground()
        )  # fmt: skip
        tracker: Any = MomentsTracker(
            min_height=self.min_height, max_height=self.max_height, use_cc=self.use_cc
        )
        em_tracker = _optional("extraction", "EMTracker")
        if self.use_tracking_model and em_tracker is not None:
            tracker = _build_em_tracker(em_tracker, self)
        filters = FrameFilters(
            spatial_size=self.spatial_filter_size,
            temporal_size=self.temporal_filter_size,
            tail_size=self.tail_filter_size,
            tail_shape=_shape(self.tail_filter_shape),
            tail_iterations=self.tail_filter_iters,
            cable_size=self.cable_filter_size,
            cable_shape=_shape(self.cable_filter_shape),
            cable_iterations=self.cable_filter_iters,
        )
        return SessionExtraction(
            extractor,
            roi=roi,
            background=background,
            tracker=tracker,
            flip_corrector=self.build_flip_corrector(),
            crop_size=self.crop_size,
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            frame_trim=self.frame_trim,
            num_frames=self.num_frames,
            n_jobs=max(1, int(n_jobs)),
            filters=filters,
            centroid_hampel=HampelFilter(self.centroid_hampel_span, self.centroid_hampel_sig),
            angle_hampel=HampelFilter(self.angle_hampel_span, self.angle_hampel_sig),
            frame_dtype=self.frame_dtype,
        )

    def build_flip_corrector(self) -> Any:
        """The flip corrector: the classifier, else the motion corrector, else ``None``.

        Strategies that are not part of this installation's version are skipped (logged):
        the extraction then keeps the body angle's own end.
        """
        if self.flip_classifier is not None:
            classifier = _optional("extraction", "ClassifierFlipCorrector")
            if classifier is not None:
                path = Path(self.flip_classifier)
                if not path.is_file():
                    raise ConfigError(f"flip_classifier {path} does not exist")
                return classifier.load(path, smoothing=self.flip_classifier_smoothing)
        if self.flip_corrector == "none":
            return None
        motion = _optional("extraction", "MotionFlipCorrector")
        if motion is None:
            logger.info("no motion flip corrector in this version; the heading is not corrected")
            return None
        return motion()


class _FixedTrueDepthROI:
    """An ROI strategy whose true depth is given (``detected_true_depth``), not measured."""

    def __init__(self, inner: Any, true_depth: float) -> None:
        self.inner = inner
        self.true_depth = float(true_depth)

    def __repr__(self) -> str:
        return f"{self.inner!r} with true depth {self.true_depth:g} mm"

    def __getattr__(self, name: str) -> Any:
        # Parameters and helpers (depth_range, weights, ...) are the wrapped strategy's.
        return getattr(self.inner, name)

    def find(self, background: Any, camera: Any = None) -> Any:
        arena = self.inner.find(background, camera)
        return dataclasses.replace(arena, true_depth=self.true_depth)


def _shape(name: str) -> str:
    return "rectangle" if name in ("rect", "rectangle") else "ellipse"


def _build_em_tracker(em_tracker: type, config: ExtractionConfig) -> Any:
    """EMTracker from the tracking_model_* keys, passing only what its constructor accepts."""
    import inspect

    wanted = {
        "min_height": config.min_height,
        "max_height": config.max_height,
        "ll_threshold": config.tracking_model_ll_threshold,
        "mask_threshold": config.tracking_model_mask_threshold,
        "ll_clip": config.tracking_model_ll_clip,
        "segment": config.tracking_model_segment,
        "init_method": config.tracking_model_init,
        "model_smoothing_clips": config.model_smoothing_clips,
        "use_cc": config.use_cc,
        "rho_mean": config.tracking_model_rho_mean,
        "rho_cov": config.tracking_model_rho_cov,
        "cable_sigma": config.tracking_model_cable_sigma,
    }
    accepted = inspect.signature(em_tracker).parameters
    return em_tracker(**{k: v for k, v in wanted.items() if k in accepted})


def _optional(package: str, name: str) -> Any:
    """``depthextractors.<package>.<name>`` if this version has it, else ``None``."""
    import importlib

    module = importlib.import_module(f"depthextractors.{package}")
    return getattr(module, name, None)


def _field(name: str) -> dataclasses.Field:
    return next(spec for spec in fields(ExtractionConfig) if spec.name == name)


def option_specs() -> list[dataclasses.Field]:
    """The fields of :class:`ExtractionConfig` with their metadata (kind, help, group, range).

    The command line builds its options from these, so names, defaults and help cannot drift
    from the configuration.
    """
    return list(fields(ExtractionConfig))


# ---------------------------------------------------------------------------------- coercion
def _fail(name: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{name} must be {expected}, got {value!r}")


def _number(name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool):
        raise _fail(name, value, "an integer" if integer else "a number")
    if isinstance(value, str):
        try:
            value = float(value) if not integer else int(value.strip())
        except ValueError:
            raise _fail(name, value, "an integer" if integer else "a number") from None
    if integer:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise _fail(name, value, "an integer")
        return int(value)
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _fail(name, value, "a finite number")
    return float(value)


def _check_range(spec: dataclasses.Field, value: float) -> None:
    low, high = spec.metadata["minimum"], spec.metadata["maximum"]
    if low is not None and value < low:
        raise ConfigError(f"{spec.name} must be at least {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{spec.name} must be at most {high:g}, got {value!r}")


def _sequence(spec: dataclasses.Field, value: Any, length: int, integer: bool) -> tuple:
    original = value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * length  # moseq2 accepts one number for a square size
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise _fail(spec.name, original, f"a list of {length} numbers")
    try:
        numbers = tuple(_number(spec.name, v, integer) for v in value)
    except ConfigError:
        kind = "integers" if integer else "numbers"
        raise _fail(spec.name, original, f"a list of {length} {kind}") from None
    for number in numbers:
        _check_range(spec, number)
    return numbers


def _coerce(spec: dataclasses.Field, value: Any) -> Any:
    """Check and convert one value of ``spec``'s kind; raise :class:`ConfigError` if wrong."""
    kind, name = spec.metadata["kind"], spec.name
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(name, value, "true or false")
    if kind in ("int", "float"):
        number = _number(name, value, kind == "int")
        _check_range(spec, number)
        return number
    if kind == "int_or_none":
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        number = _number(name, value, True)
        _check_range(spec, number)
        return number
    if kind == "float_or_none":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        number = _number(name, value, False)
        _check_range(spec, number)
        return number
    if kind == "filter_size":
        if isinstance(value, (list, tuple)):
            # moseq2 writes these as one-element lists (a click option with multiple=True).
            if len(value) != 1:
                raise _fail(name, value, "one odd number of pixels/frames (or 0)")
            value = value[0]
        number = _number(name, value, True)
        _check_range(spec, number)
        if number > 0 and number % 2 == 0:
            warnings.warn(
                f"{name} must be an odd number; using {number + 1} instead of {number} "
                "(as moseq2-extract)",
                ConfigWarning,
                stacklevel=4,
            )
            number += 1
        return number
    if kind in ("pair_int", "pair_float"):
        return _sequence(spec, value, 2, kind == "pair_int")
    if kind == "triple_float":
        return _sequence(spec, value, 3, False)
    if kind == "choice":
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in spec.metadata["choices"]:
            raise _fail(name, value, "one of " + ", ".join(spec.metadata["choices"]))
        return text
    if kind == "choice_int":
        number = _number(name, value, True)
        if str(number) not in spec.metadata["choices"]:
            raise _fail(name, value, "one of " + ", ".join(spec.metadata["choices"]))
        return number
    if kind == "auto_or_float":
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        number = _number(name, value, False)
        if number <= 0:
            raise _fail(name, value, "'auto' or a positive depth in mm")
        return str(number)
    if kind == "path_or_none":
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise _fail(name, value, "a file path")
        return str(value)
    if kind == "str":
        if not isinstance(value, str):
            raise _fail(name, value, "a string")
        return value
    raise AssertionError(f"unknown option kind {kind!r}")  # a programming error, not input
