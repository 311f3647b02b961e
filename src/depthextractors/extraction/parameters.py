"""The moseq2 parameter table: every moseq2-extract key, and where it lives in the pipeline.

One row per key (:class:`ParameterSpec`) says which strategy argument the key sets (its *role*
in the session — ``roi``, ``tracker``, ... — and the constructor argument), the kind of value,
the help text and the command-line group. Everything else comes from this table:

- the defaults: read from the constructor signature of the strategy that owns the argument
  (the one place a default is written), or, for keys that choose a strategy rather than set
  one of its arguments (``use_plane_bground``, ``flip_classifier``, ...), from the row;
- :class:`~depthextractors.config.ExtractionConfig`'s keys, checks and YAML files,
  ``generate-config`` and the command-line options;
- building the pipeline from a configuration (:func:`build_strategies`);
- the parameters recorded with the results, under these keys, with their descriptions
  (:func:`~depthextractors.extraction.recorded_parameters.moseq2_parameters`), which
  ``--config-file`` takes back to reproduce the results.

Keys moseq2-extract does not have (``moseq2=False``) set the arguments it lacks, so that every
argument of the built-in strategies can be given and is recorded.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

__all__ = [
    "PARAMETERS",
    "ParameterSpec",
    "build_strategies",
    "default_value",
    "parameter_spec",
]

#: Groups of the command line: ``roi`` options go to ``find-roi`` and ``extract``, the others
#: to ``extract`` (and ``batch-extract``) only.
ROI, EXTRACT, WORKFLOW, RECORDED = "roi", "extract", "workflow", "recorded"

#: The class whose constructor holds the defaults of each role.
_ROLE_CLASSES = {
    "background": "background.StridedMedianBackground",
    "roi": "roi.PlaneROI",
    "filters": "filters.FrameFilters",
    "tracker": "tracking.MomentsTracker",
    "centroid_hampel": "filters.HampelFilter",
    "angle_hampel": "filters.HampelFilter",
    "flip_corrector": "flips.MotionFlipCorrector",
    "session": "session.SessionExtraction",
    "job": "executor.JobOptions",
}
_NO_DEFAULT = object()


@dataclass(frozen=True)
class ParameterSpec:
    """One moseq2 key and where it goes.

    Attributes
    ----------
    key : str
        The key (``min_height``); ``--min-height`` on the command line.
    kind : str
        Value kind: ``bool``, ``int``, ``float``, ``pair_int``, ``pair_float``,
        ``triple_float``, ``choice``, ``choice_int``, ``filter_size``, ``int_or_none``,
        ``float_or_none``, ``auto_or_float``, ``path_or_none``, ``str``.
    help : str
        One line for ``--help``, ``generate-config`` and the recorded parameter's description.
    role : str or None
        The session's strategy the key sets (``roi``, ``tracker``, ...), ``session`` for the
        session's own arguments, ``job`` for job options, ``None`` for keys of the workflow,
        choices of strategy and recorded facts.
    argument : str or None
        The constructor argument it sets.
    owner : str or None
        ``module.Class`` (under ``depthextractors.extraction``) owning the argument when not
        the role's default class (the EM tracker's, the classifier's).
    default : object
        The default of keys without an argument; others take their owner's signature default.
    group : str
        Command-line group (``roi``, ``extract``, ``workflow``; ``recorded``: not an option).
    choices : tuple of str
        Allowed values of ``choice`` / ``choice_int`` kinds.
    minimum, maximum : float or None
        Range of numbers.
    short : str or None
        Short command-line flag.
    moseq2 : bool
        Whether moseq2-extract 1.4.0 has the key.
    supported : bool
        False for moseq2 keys accepted but only at their default.
    to_argument, from_argument : callable or None
        Conversions between the key's value and the argument's, where they differ.
    """

    key: str
    kind: str
    help: str
    role: str | None = None
    argument: str | None = None
    owner: str | None = None
    default: Any = _NO_DEFAULT
    group: str = EXTRACT
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    short: str | None = None
    moseq2: bool = True
    supported: bool = True
    to_argument: Callable[[Any], Any] | None = field(default=None, compare=False)
    from_argument: Callable[[Any], Any] | None = field(default=None, compare=False)


def _auto_or_none(value: Any) -> Any:
    return None if value == "auto" else float(value)


def _none_to_auto(value: Any) -> Any:
    return "auto" if value is None else float(value)


def _one_element_list(value: Any) -> list[int]:
    # moseq2-extract records its median filter sizes as one-element lists ([3]).
    return [int(value)]


def _range_or_moseq2_default(value: Any) -> Any:
    # moseq2-extract records bg_roi_depth_range as given, its default when found automatically.
    return (650.0, 750.0) if value is None else value


def _shape(value: str) -> str:
    return "rectangle" if value in ("rect", "rectangle") else "ellipse"


def _p(key: str, kind: str, help: str, role: str | None = None, argument: str | None = None,
       **more: Any) -> ParameterSpec:  # fmt: skip
    return ParameterSpec(key, kind, help, role, argument, **more)


_EM = "em_tracking.EMTracker"
_CLASSIFIER = "flips.ClassifierFlipCorrector"
_MOTION_HELP = "Motion flip corrector: "

#: Every key, in ``generate-config`` order.
PARAMETERS: tuple[ParameterSpec, ...] = (
    # ------------------------------------------------------------------ arena and background
    _p("bg_roi_depth_range", "pair_float",
       "Range to search for floor of arena (mm); used when manual_set_depth_range is true or "
       "the range differs from the default, otherwise the floor depth is found automatically",
       "roi", "depth_range", default=(650.0, 750.0), group=ROI, minimum=0,
       from_argument=_range_or_moseq2_default),
    _p("manual_set_depth_range", "bool",
       "Always use bg_roi_depth_range instead of finding the floor depth", default=False,
       group=ROI),
    _p("bg_roi_weights", "triple_float",
       "ROI feature weighting (area, extent, dist); the recording's camera sets moseq2-extract's "
       "value for it unless another is given", "roi", "weights", default=(1.0, 0.1, 1.0),
       group=ROI),
    _p("camera_type", "camera",
       "Camera used for the recording (auto: from the file; kinect, azure, realsense or a "
       "camera model name); sets the frame size of raw files without metadata.json",
       default="auto", group=ROI),
    _p("bg_roi_dilate", "pair_int", "Size of strel to dilate roi (pixels)", "roi", "dilate",
       group=ROI, minimum=0),
    _p("bg_roi_shape", "choice", "Shape to use to dilate roi", "roi", "shape", group=ROI,
       choices=("ellipse", "rect", "rectangle")),
    _p("bg_roi_index", "int", "Index of which background mask to use (0: best ranked)", "roi",
       "index", group=ROI, minimum=0),
    _p("bg_roi_fill_holes", "bool", "Fill holes in ROI", "roi", "fill_holes", group=ROI),
    _p("bg_roi_gradient_filter", "bool", "Exclude walls with gradient filtering", "roi",
       "gradient_filter", group=ROI),
    _p("bg_roi_gradient_threshold", "float", "Gradient must be < this to include points", "roi",
       "gradient_threshold", group=ROI, minimum=0),
    _p("bg_roi_gradient_kernel", "choice_int",
       "Kernel size for Sobel gradient filtering (1, 3, 5 or 7)", "roi", "gradient_kernel",
       group=ROI, choices=("1", "3", "5", "7")),
    _p("bg_roi_erode", "pair_int", "Size of cv2 Structure Element to erode roi (pixels)", "roi",
       "erode", group=ROI, minimum=0),
    _p("erode_iterations", "int", "Number of erosion iterations to decrease bucket floor size",
       "roi", "erode_iterations", group=ROI, minimum=0),
    _p("dilate_iterations", "int", "Number of dilation iterations to increase bucket floor size",
       "roi", "dilate_iterations", group=ROI, minimum=0),
    _p("noise_tolerance", "float",
       "Extent of noise (mm) to accept during RANSAC plane ROI computation", "roi",
       "noise_tolerance", group=ROI, minimum=1e-9),
    _p("bg_sort_roi_by_position", "bool", "Sort ROIs by position", default=False, group=ROI,
       supported=False),
    _p("bg_sort_roi_by_position_max_rois", "int", "Max original ROIs to sort by position",
       default=2, group=ROI, minimum=1, supported=False),
    _p("use_plane_bground", "bool",
       "Use a plane fit for the background (mice that don't move much)", default=False,
       group=ROI),
    _p("bg_roi_seed", "int", "Seed of the RANSAC plane fit (same seed, same ROI)", "roi", "seed",
       group=ROI, minimum=0, moseq2=False),
    _p("bg_roi_ransac_iterations", "int", "Candidate planes tried by the RANSAC plane fit",
       "roi", "iterations", group=ROI, minimum=1, moseq2=False),
    _p("bg_roi_ransac_sample_points", "int",
       "Background points the candidate planes are scored on", "roi", "sample_points",
       group=ROI, minimum=3, moseq2=False),
    _p("bg_roi_min_region_fraction", "float",
       "Floor regions smaller than this fraction of the image are not ranked (0: rank all)",
       "roi", "min_region_fraction", group=ROI, minimum=0, maximum=0.999, moseq2=False),
    _p("bg_roi_exclude_sloped_walls", "bool", "Leave sloped walls (ramps) out of the floor; "
       "vertical walls are kept as moseq2-extract keeps them", "roi", "exclude_sloped_walls",
       group=ROI, moseq2=False),
    _p("bg_roi_retry_implausible", "bool", "Retry with the gradient filter, then at the "
       "background's next flat depths, when the arena touches the frame border, fills it or "
       "lies off centre", "roi", "retry_implausible",
       group=ROI, moseq2=False),
    _p("bg_roi_frame_stride", "int", "Stride between the frames the background median is of",
       "background", "frame_stride", group=ROI, minimum=1, moseq2=False),
    _p("med_scale", "filter_size", "Median blur size applied to background frames (odd)",
       "background", "median_filter_size", group=ROI, minimum=1, moseq2=False),
    _p("bg_min_frames", "int", "Fewest frames the background median is taken over",
       "background", "min_frames", group=ROI, minimum=1, moseq2=False),
    _p("bg_transient_height", "float", "Leave out of the background what stands more than "
       "this (mm) over the floor a pixel shows in a fifth of the sampled frames (a resting "
       "animal, a hand), with its low rim; 0: the plain median", "background",
       "transient_height", group=ROI, minimum=0, moseq2=False),
    # ------------------------------------------------------------------ extraction
    _p("crop_size", "pair_int", "Width and height of cropped mouse image (pixels)", "session",
       "crop_size", short="-c", minimum=2),
    _p("num_frames", "int_or_none", "Number of frames to extract (all when not set)", "session",
       "num_frames", short="-n", minimum=1),
    _p("min_height", "float", "Min mouse height from floor (mm)", "tracker", "min_height",
       minimum=0),
    _p("max_height", "float", "Max mouse height from floor (mm)", "tracker", "max_height",
       minimum=0),
    _p("detected_true_depth", "auto_or_float",
       "Floor depth (mm) instead of the one measured in the ROI: 'auto' or a number", "roi",
       "true_depth", to_argument=_auto_or_none, from_argument=_none_to_auto),
    _p("compute_raw_scalars", "bool", "Compute scalar values from raw cropped frames",
       default=False, supported=False),
    _p("flip_classifier", "path_or_none",
       "Flip classifier (a model saved by depthextractors) to orient the mouse; without one "
       "the motion-based corrector is used", default=None),
    _p("flip_classifier_smoothing", "filter_size",
       "Number of frames to smooth flip classifier probabilities (odd)", "flip_corrector",
       "smoothing", owner=_CLASSIFIER, minimum=0),
    _p("use_cc", "bool", "Extract features using largest connected components (EM tracker: "
       "without it moseq2-extract 1.4.0's has no effect, nor has it here)", "tracker", "use_cc",
       owner=_EM),
    _p("use_tracking_model", "bool",
       "Use an expectation-maximization style model to aid mouse tracking (cables)",
       default=False),
    _p("tracking_model_ll_threshold", "float",
       "Threshold on log-likelihood for pixels to use for update during tracking", "tracker",
       "ll_threshold", owner=_EM),
    _p("tracking_model_mask_threshold", "float",
       "Threshold on log-likelihood to include pixels for centroid and angle calculation",
       "tracker", "mask_threshold", owner=_EM),
    _p("tracking_model_ll_clip", "float", "Clip log-likelihoods below this value", "tracker",
       "ll_clip", owner=_EM),
    _p("tracking_model_segment", "bool", "Segment likelihood mask from tracking model",
       "tracker", "segment", owner=_EM),
    _p("tracking_model_init", "choice", "Method for tracking model initialization", "tracker",
       "init_method", owner=_EM, choices=("raw", "min", "med")),
    _p("tracking_model_init_frames", "int",
       "EM tracker: frames the 'min' and 'med' initialisations use", "tracker", "init_frames",
       owner=_EM, minimum=1, moseq2=False),
    _p("tracking_model_init_strel", "pair_int",
       "EM tracker: opening (pixels) that (re-)initialises the model", "tracker", "init_strel",
       owner=_EM, minimum=1, moseq2=False),
    _p("tracking_model_rho_mean", "float",
       "EM tracker: weight of the previous frame's mean in the new one (0: no smoothing; < 1)",
       "tracker", "rho_mean", owner=_EM, minimum=0, moseq2=False),
    _p("tracking_model_rho_cov", "float",
       "EM tracker: weight of the previous frame's covariance in the new one (0: no "
       "smoothing; < 1)", "tracker", "rho_cov", owner=_EM, minimum=0, moseq2=False),
    _p("tracking_model_cable_sigma", "float_or_none",
       "EM tracker: pixels taller than the model's mean height plus this many standard "
       "deviations are cable, not animal (null: no cable rule)", "tracker", "cable_sigma",
       owner=_EM, minimum=1e-9, moseq2=False),
    _p("tracking_model_max_iterations", "int", "EM tracker: EM iterations per frame at most",
       "tracker", "max_iterations", owner=_EM, minimum=1, moseq2=False),
    _p("tracking_model_tolerance", "float",
       "EM tracker: stop when the log-likelihood gains less than this fraction of itself",
       "tracker", "tolerance", owner=_EM, minimum=1e-12, moseq2=False),
    _p("tracking_model_regularization", "float",
       "EM tracker: added to the covariance's diagonal at each update (px² and mm²)", "tracker",
       "regularization", owner=_EM, minimum=0, moseq2=False),
    _p("model_smoothing_clips", "pair_float",
       "Model smoothing clips (EM tracker log-likelihoods)", "tracker", "model_smoothing_clips",
       owner=_EM),
    _p("cable_filter_iters", "int", "Number of cable filter iterations", "filters",
       "cable_iterations", minimum=0),
    _p("cable_filter_shape", "choice", "Cable filter shape", "filters", "cable_shape",
       choices=("rectangle", "rect", "ellipse"), to_argument=_shape),
    _p("cable_filter_size", "pair_int", "Cable filter size (pixels)", "filters", "cable_size",
       minimum=1),
    _p("tail_filter_iters", "int", "Number of tail filter iterations", "filters",
       "tail_iterations", minimum=0),
    _p("tail_filter_size", "pair_int", "Tail filter size (pixels)", "filters", "tail_size",
       minimum=1),
    _p("tail_filter_shape", "choice", "Tail filter shape", "filters", "tail_shape",
       choices=("ellipse", "rectangle", "rect"), to_argument=_shape),
    _p("tether_filter_size", "int",
       "Remove parts of the animal narrower than this (pixels) that reach out of its body "
       "(tethers, cables; 0: off)", "filters", "tether_size", minimum=0, moseq2=False),
    _p("spatial_filter_size", "filter_size",
       "Space prefilter kernel (median filter, must be odd; 0: off)", "filters", "spatial_size",
       short="-s", minimum=0, from_argument=_one_element_list),
    _p("temporal_filter_size", "filter_size",
       "Time prefilter kernel (median filter, must be odd; 0: off)", "filters",
       "temporal_size", minimum=0, from_argument=_one_element_list),
    _p("chunk_size", "int",
       "Frames processed per chunk; memory grows with it, the results do not change", "job",
       "chunk_size", short="-b", minimum=1),
    _p("workers", "choice",
       "Where the per-frame work runs: worker processes that read their own frames (a raw "
       "depth.dat), threads of one process, or auto (processes where the recording allows it); "
       "the results do not change", "job", "workers", choices=("auto", "processes", "threads"),
       moseq2=False),
    _p("chunk_overlap", "int", "Frames overlapped in each chunk. Useful for cable tracking",
       "session", "chunk_overlap", minimum=0),
    _p("frame_dtype", "choice", "Data type for processed frames", "session", "frame_dtype",
       choices=("uint8", "uint16")),
    _p("centroid_hampel_span", "int", "Hampel filter span (frames; 0: off)", "centroid_hampel",
       "span", minimum=0),
    _p("centroid_hampel_sig", "float", "Hampel filter sig", "centroid_hampel", "sig",
       minimum=1e-9),
    _p("angle_hampel_span", "int", "Angle filter span (frames; 0: off)", "angle_hampel", "span",
       minimum=0),
    _p("angle_hampel_sig", "float", "Angle filter sig", "angle_hampel", "sig", minimum=1e-9),
    _p("frame_trim", "pair_int", "Frames to trim from beginning and end of data", "session",
       "frame_trim", minimum=0),
    _p("retrack_jumps", "bool", "Track a frame again near where the frames round it put the "
       "animal when its largest object lies more than 1.5 animal lengths from there (a "
       "stateless tracker; moseq2-extract keeps the far object)", "session", "retrack_jumps",
       moseq2=False),
    _p("flip_corrector", "choice",
       "Flip correction without a classifier: 'motion' (heading from movement and body shape) "
       "or 'none' ('classifier': the one flip_classifier names)", default="motion",
       choices=("motion", "none", "classifier"), moseq2=False),
    _p("flip_motion_weight", "float",
       _MOTION_HELP + "evidence (nats/frame) of walking at full speed along the body axis",
       "flip_corrector", "motion_weight", minimum=0, moseq2=False),
    _p("flip_min_speed_mm_s", "float",
       _MOTION_HELP + "speed (mm/s) below which motion gives no heading evidence",
       "flip_corrector", "min_speed_mm_s", minimum=0, moseq2=False),
    _p("flip_full_speed_mm_s", "float",
       _MOTION_HELP + "speed (mm/s) from which motion evidence has its full weight",
       "flip_corrector", "full_speed_mm_s", minimum=0, moseq2=False),
    _p("flip_velocity_span", "int",
       _MOTION_HELP + "frames on each side of a frame used for its velocity", "flip_corrector",
       "velocity_span", minimum=1, moseq2=False),
    _p("flip_shape_weight", "float",
       _MOTION_HELP + "largest evidence (nats/frame) of the body shape (rear taller, wider)",
       "flip_corrector", "shape_weight", minimum=0, moseq2=False),
    _p("flip_shape_scale", "float",
       _MOTION_HELP + "front/rear height-mass asymmetry giving the full shape weight",
       "flip_corrector", "shape_scale", minimum=1e-9, moseq2=False),
    _p("flip_switch_cost", "float",
       _MOTION_HELP + "cost (nats) of turning the animal round between consecutive frames",
       "flip_corrector", "switch_cost", minimum=1e-9, moseq2=False),
    _p("flip_rearing_ratio", "float",
       _MOTION_HELP + "upper-quartile height over the animal's back height from which a "
       "frame counts as reared (head up: the shape evidence turns round)", "flip_corrector",
       "rearing_ratio", minimum=1e-9, moseq2=False),
    _p("flip_shape_height_cap", "float_or_none",
       _MOTION_HELP + "heights counted in the shape evidence at most this many times the "
       "animal's back height, so a tether rising from the head does not weigh it (null: "
       "every height)", "flip_corrector", "shape_height_cap", minimum=1e-9, moseq2=False),
    _p("flip_lookahead", "int",
       _MOTION_HELP + "frames after each chunk decoded with it (future evidence)",
       "flip_corrector", "lookahead", minimum=0, moseq2=False),
    # ------------------------------------------------------------------ the workflow
    _p("animal", "choice",
       "Size-dependent settings left at moseq2's defaults (made for a mouse under a Kinect) "
       "follow the animal: 'mouse' keeps them, 'rat' sizes them for a rat, 'auto' for the "
       "animal measured on 40 frames (tail filter, crop, max_height, EM tracker)",
       default="mouse", choices=("mouse", "rat", "auto"), group=WORKFLOW, moseq2=False),
    _p("write_movie", "bool",
       "Write a results_00.mp4 preview movie including the extracted mouse", default=True,
       group=WORKFLOW),
    _p("write_report", "bool",
       "Write report.html (pictures and quality figures) after the extraction", default=True,
       group=WORKFLOW, moseq2=False),
    _p("compress", "bool", "Convert .dat to lossless .avi after successful extraction",
       default=False, group=WORKFLOW),
    _p("compress_chunk_size", "int", "Chunk size for .avi compression", default=3000,
       group=WORKFLOW, minimum=1),
    _p("compress_threads", "int", "Number of threads for encoding", default=3, group=WORKFLOW,
       minimum=0),
    # ------------------------------------------------------------------ recorded facts
    _p("fps", "float_or_none", "Frame rate of camera (Hz), as the recording gives it", default=None,
       group=RECORDED),
    _p("input_file", "str", "Depth recording extracted", default=None, group=RECORDED),
    _p("camera", "str", "Camera model of the recording (pixel to mm conversion)", default=None,
       group=RECORDED, moseq2=False),
    _p("true_depth", "float_or_none", "Detected true depth of arena floor (mm)", default=None,
       group=RECORDED),
    _p("custom_strategies", "strings",
       "Strategies of the extraction that the keys cannot describe (role: module.Class); "
       "their parameters are under strategies", default=None, group=RECORDED, moseq2=False),
)  # fmt: skip

#: The classes the keys build, by role: any other strategy is recorded as custom.
_BUILT_BY_KEYS = {
    "background": ("background.StridedMedianBackground", "background.PlaneFitBackground"),
    "roi": ("roi.PlaneROI",),
    "filters": ("filters.FrameFilters",),
    "tracker": ("tracking.MomentsTracker", _EM),
    "centroid_hampel": ("filters.HampelFilter",),
    "angle_hampel": ("filters.HampelFilter",),
    "flip_corrector": ("flips.MotionFlipCorrector", _CLASSIFIER),
}

_BY_KEY = {spec.key: spec for spec in PARAMETERS}


def parameter_spec(key: str) -> ParameterSpec:
    """The row of ``key``.

    Raises
    ------
    KeyError
        If the table has no such key.
    """
    return _BY_KEY[key]


@cache
def _class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _owner(spec: ParameterSpec) -> type:
    return _class(spec.owner or _ROLE_CLASSES[spec.role])


def default_value(spec: ParameterSpec) -> Any:
    """The key's default, in the key's form (tuples for pairs).

    Parameters
    ----------
    spec : ParameterSpec
        A row of :data:`PARAMETERS`.

    Returns
    -------
    object
        From the owner's constructor signature, or the row's own default.
    """
    if spec.default is not _NO_DEFAULT:
        return spec.default
    signature = inspect.signature(_owner(spec).__init__)
    value = signature.parameters[spec.argument].default
    if spec.from_argument is not None:
        value = spec.from_argument(value)
    return value


# ---------------------------------------------------------------------------------- building
def build_strategies(values: Mapping[str, Any]) -> dict[str, Any]:
    """Strategy objects and session arguments from validated key values.

    Parameters
    ----------
    values : mapping
        Every key of :data:`PARAMETERS` (an :class:`ExtractionConfig`'s values).

    Returns
    -------
    dict
        ``SessionExtraction`` keyword arguments (``roi``, ``background``, ``tracker``,
        ``filters``, ``centroid_hampel``, ``angle_hampel``, ``flip_corrector``, and the session's
        own) plus ``job`` (the :class:`JobOptions` keywords).
    """
    arguments = _arguments_by_role(values)
    roi = _class(_ROLE_CLASSES["roi"])(**_accepted("roi.PlaneROI", arguments["roi"]))
    if values["use_plane_bground"]:
        background_class = _class("background.PlaneFitBackground")
        background = background_class(**arguments["background"], roi=roi)
    else:
        background = _class(_ROLE_CLASSES["background"])(**arguments["background"])
    tracker_path = _EM if values["use_tracking_model"] else _ROLE_CLASSES["tracker"]
    tracker = _class(tracker_path)(**_accepted(tracker_path, arguments["tracker"]))
    built = {
        "roi": roi,
        "background": background,
        "tracker": tracker,
        "filters": _class(_ROLE_CLASSES["filters"])(**arguments["filters"]),
        "centroid_hampel": _class(_ROLE_CLASSES["centroid_hampel"])(**arguments["centroid_hampel"]),
        "angle_hampel": _class(_ROLE_CLASSES["angle_hampel"])(**arguments["angle_hampel"]),
        "flip_corrector": _flip_corrector(values, arguments["flip_corrector"]),
        **arguments["session"],
        "job": arguments["job"],
    }
    return built


def _arguments_by_role(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    arguments: dict[str, dict[str, Any]] = {role: {} for role in _ROLE_CLASSES}
    for spec in PARAMETERS:
        if spec.argument is None:
            continue
        value = values[spec.key]
        if spec.to_argument is not None:
            value = spec.to_argument(value)
        if isinstance(value, list):
            value = tuple(value)
        arguments[spec.role][spec.argument] = value
    roi = arguments["roi"]
    if not values["manual_set_depth_range"] and tuple(values["bg_roi_depth_range"]) == tuple(
        parameter_spec("bg_roi_depth_range").default
    ):
        # As moseq2-extract since its automatic range: found from the background unless set.
        roi["depth_range"] = None
    if tuple(values["bg_roi_weights"]) == tuple(parameter_spec("bg_roi_weights").default):
        # moseq2's camera_type rule: the camera family's weights unless others are given.
        roi["weights"] = None
    return arguments


def _accepted(path: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments ``path``'s constructor takes (the EM tracker's keys go to it only)."""
    names = _class(path).param_names()
    return {name: value for name, value in arguments.items() if name in names}


def _flip_corrector(values: Mapping[str, Any], arguments: dict[str, Any]) -> Any:
    if values["flip_classifier"] is not None:
        classifier = _class(_CLASSIFIER)
        return classifier.load(values["flip_classifier"], smoothing=arguments["smoothing"])
    if values["flip_corrector"] == "none":
        return None
    if values["flip_corrector"] == "classifier":
        raise ValueError("flip_corrector: classifier needs flip_classifier: <file> to be set")
    motion = _class(_ROLE_CLASSES["flip_corrector"])
    return motion(**_accepted(_ROLE_CLASSES["flip_corrector"], arguments))
