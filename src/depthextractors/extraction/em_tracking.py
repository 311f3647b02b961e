"""Follow the animal with a 3-D Gaussian for tethered animals: :class:`EMTracker`.

Cables, optical fibres and miniscope leads rise from the animal's back; a tracker that keeps
the largest object above the floor counts them as part of the mouse. The EM tracker (after
moseq2-extract's ``em_tracking``) models the animal as one Gaussian over pixel position and
height, ``(x, y, height)``, and follows it from frame to frame:

1. every pixel of the frame gets its log-likelihood under the current Gaussian;
2. with ``segment``, the largest connected region with a log-likelihood above
   ``ll_threshold`` is kept (otherwise every pixel above it), and of it the pixels whose height
   lies strictly between ``min_height`` and ``max_height`` update the model;
3. expectation-maximisation: each pixel is weighted by its normalised likelihood, the mean and
   covariance re-estimated (``regularization`` mm² / px² added to the diagonal, the covariance
   kept positive definite), up to ``max_iterations`` times or until the log-likelihood gains
   less than ``tolerance`` of itself; ``rho_mean`` / ``rho_cov`` blend in the previous model
   (exponential smoothing; 0 = off, as moseq2-extract's default);
4. the log-likelihood image under the updated model selects the animal: pixels at least
   ``min_height`` tall with a log-likelihood above ``mask_threshold``, largest object, whose
   image moments give centroid, orientation, lengths — as :class:`MomentsTracker` does;
5. new (moseq2-extract has no such step): a cable lies *above* the animal. Pixels taller than
   the model's mean height plus ``cable_sigma`` standard deviations of its height marginal are
   not the animal: they are left out of the moments (a cable thick enough to survive the
   filters) and get ``ll_clip`` in the log-likelihood image written as ``frames_mask``, which
   is computed on the unfiltered heights (as moseq2-extract's) — where a thin cable crosses
   the back, the spatial and tail filters paint the back over it, so only the unfiltered
   heights show it. ``None`` switches the rule off. A symmetric likelihood threshold cannot do
   this: the animal's low flanks lie as far below the mean height as the cable lies above it.

When no region passes (the model lost the animal) the model is re-initialised from the frame:
the largest object between the heights after a morphological opening (``init_strel``).

The model state is carried from frame to frame and, through the session, across chunks (the
session tracks frames in order and hands the state of the frame before each chunk's first read
frame to the next chunk). Initialisation (``init_method``): ``"raw"`` from the first frame with
an animal, ``"min"`` / ``"med"`` from the per-pixel minimum / median of the first
``init_frames`` frames.

Everything is computed on the box around the frame's non-zero pixels (the session passes that
sub-image and its origin), never with per-pixel ``scipy.stats`` calls; the Gaussian's algebra
is in :mod:`.em_gaussian`.

The log-likelihood image is kept with each tracked object: the session crops and rotates it
into ``frames_mask`` (float32, clipped below at ``ll_clip`` and set to ``ll_clip`` where the
crop is below ``min_height``, as moseq2-extract writes it).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .em_gaussian import (
    em_update,
    image_points,
    log_likelihood,
    log_likelihood_above,
    log_likelihood_terms,
    nearest_positive_definite,
)
from .filters import structuring_element
from .tracking import MomentsTracker, SequentialTracker, TrackedObject, largest_component

__all__ = ["EMTracker", "model_smoothing_weights", "smooth_by_model"]

_INIT_METHODS = ("raw", "min", "med")


class EMTracker(SequentialTracker):
    """Expectation-maximisation tracker of a 3-D Gaussian (x, y, height) for tethered animals.

    Parameters
    ----------
    min_height : float, default 10
        Smallest height of the animal above the floor, mm (``min_height``).
    max_height : float, default 120
        Largest height, mm (``max_height``); taller pixels are zeroed before tracking.
    ll_threshold : float, default -100
        Log-likelihood above which pixels may update the model
        (``tracking_model_ll_threshold``).
    mask_threshold : float, default -16
        Log-likelihood above which pixels count as the animal for centroid and angle
        (``tracking_model_mask_threshold``).
    ll_clip : float, default -100
        Log-likelihoods written to ``frames_mask`` are clipped below at this value
        (``tracking_model_ll_clip``).
    segment : bool, default True
        Update the model from the largest region above ``ll_threshold`` only
        (``tracking_model_segment``).
    init_method : {"raw", "min", "med"}, default "raw"
        Initialisation (``tracking_model_init``).
    init_frames : int, default 10
        Frames used by the ``"min"`` and ``"med"`` initialisations.
    rho_mean, rho_cov : float, default 0
        Weight of the previous model's mean / covariance in each update (0 to 1).
    model_smoothing_clips : (float, float), default (0, 0)
        Mean log-likelihood range mapped to smoothing weights 0..1 (``model_smoothing_clips``):
        frames the model explains poorly borrow their centroid and angle from their
        neighbours. Off when the first value is not below the second (moseq2's default).
    use_cc : bool, default True
        Keep the largest 4-connected component of the pixels the model gives the animal (as
        moseq2-extract does with its EM tracker), then its largest contour.
    init_strel : (int, int), default (9, 9)
        Size of the elliptical opening used to (re-)initialise the model, pixels.
    max_iterations : int, default 15
        EM iterations per frame at most.
    tolerance : float, default 0.25
        Stop when the log-likelihood gains less than this fraction of itself.
    regularization : float, default 30
        Added to the covariance's diagonal at each update (px² and mm²), keeping the model
        from collapsing onto a few pixels.
    cable_sigma : float or None, default 2.5
        Pixels taller than the model's mean height plus this many of its height standard
        deviations are a cable over the animal, not the animal; ``None`` turns the rule off.

    Notes
    -----
    Stateful: frames must be tracked in order (the session does so; it runs the stateless
    :class:`MomentsTracker` on several threads instead).
    """

    def __init__(
        self,
        min_height: float = 10,
        max_height: float = 120,
        ll_threshold: float = -100.0,
        mask_threshold: float = -16.0,
        ll_clip: float = -100.0,
        segment: bool = True,
        init_method: str = "raw",
        init_frames: int = 10,
        rho_mean: float = 0.0,
        rho_cov: float = 0.0,
        model_smoothing_clips: tuple[float, float] = (0.0, 0.0),
        use_cc: bool = True,
        init_strel: tuple[int, int] = (9, 9),
        max_iterations: int = 15,
        tolerance: float = 0.25,
        regularization: float = 30.0,
        cable_sigma: float | None = 2.5,
    ) -> None:
        self._moments = MomentsTracker(min_height, max_height)
        # Integer heights h satisfy h >= min_height exactly when h >= ceil(min_height).
        self._low = self._moments._low  # heights above min_height, as the moments tracker
        self.min_height = self._moments.min_height
        self.max_height = self._moments.max_height
        self.use_cc = bool(use_cc)
        self.ll_threshold = float(ll_threshold)
        self.mask_threshold = float(mask_threshold)
        self.ll_clip = float(ll_clip)
        self.segment = bool(segment)
        if init_method not in _INIT_METHODS:
            raise ValueError(
                f"init_method must be one of {_INIT_METHODS} (tracking_model_init), got "
                f"{init_method!r}"
            )
        self.init_method = init_method
        if int(init_frames) < 1:
            raise ValueError(f"init_frames must be at least 1, got {init_frames}")
        self.init_frames = int(init_frames)
        for name, value in (("rho_mean", rho_mean), ("rho_cov", rho_cov)):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.rho_mean = float(rho_mean)
        self.rho_cov = float(rho_cov)
        try:
            low, high = (float(v) for v in model_smoothing_clips)
        except (TypeError, ValueError):
            raise ValueError(
                f"model_smoothing_clips must be (low, high) log-likelihoods, got "
                f"{model_smoothing_clips!r}"
            ) from None
        self.model_smoothing_clips = (low, high)
        self.init_strel = tuple(int(v) for v in init_strel)
        self._init_kernel = structuring_element("ellipse", self.init_strel)
        if int(max_iterations) < 1 or not float(tolerance) > 0 or float(regularization) < 0:
            raise ValueError(
                "max_iterations must be >= 1, tolerance > 0 and regularization >= 0; got "
                f"{max_iterations}, {tolerance}, {regularization}"
            )
        if cable_sigma is not None and not float(cable_sigma) > 0:
            raise ValueError(
                f"cable_sigma must be > 0 standard deviations or None, got {cable_sigma}"
            )
        self.cable_sigma = None if cable_sigma is None else float(cable_sigma)
        self.max_iterations = int(max_iterations)
        self.tolerance = float(tolerance)
        self.regularization = float(regularization)
        self.reset()

    @property
    def log_likelihood_clip(self) -> float:
        """``frames_mask`` holds log-likelihoods clipped below at ``ll_clip``."""
        return self.ll_clip

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mean (3,), covariance (3, 3))`` of the model in ROI-box coordinates, or None."""
        if self._mean is None:
            return None
        return self._mean.copy(), self._cov.copy()

    @state.setter
    def state(self, value: tuple[np.ndarray, np.ndarray] | None) -> None:
        if value is None:
            self._mean = self._cov = None
            return
        mean, cov = (np.array(v, dtype=np.float64) for v in value)
        if mean.shape != (3,) or cov.shape != (3, 3):
            raise ValueError(
                f"state must be (mean (3,), covariance (3, 3)), got {mean.shape}, {cov.shape}"
            )
        self._mean, self._cov = mean, cov

    def reset(self) -> None:
        """Forget the model (the next frames initialise it again)."""
        self._mean: np.ndarray | None = None
        self._cov: np.ndarray | None = None

    def initialize(self, images: np.ndarray) -> None:
        """Initialise the model from the first frames of a session.

        Parameters
        ----------
        images : numpy.ndarray
            ``(frames, rows, cols)`` filtered heights (mm) in ROI-box coordinates; the first
            ``init_frames`` are used by ``"min"`` / ``"med"``, the first by ``"raw"``.
        """
        images = np.asarray(images)
        if images.shape[0] == 0:
            return
        if self.init_method == "raw":
            source = images[0]
        elif self.init_method == "min":
            source = images[: self.init_frames].min(axis=0)
        else:
            source = np.median(images[: self.init_frames], axis=0).astype(images.dtype)
        self._initialize_from(source, (0, 0))

    def _initialize_from(self, image: np.ndarray, origin: tuple[int, int]) -> bool:
        """Model from the largest object between the heights after an opening; False if none."""
        inside = (image > self.min_height) & (image < self.max_height)
        opened = cv2.morphologyEx(inside.astype(np.uint8), cv2.MORPH_OPEN, self._init_kernel)
        region = _largest_region(opened)
        if region is None or np.count_nonzero(region) < 3:
            return False
        rows, cols = np.nonzero(region)
        points = np.column_stack(
            [cols + origin[0], rows + origin[1], image[rows, cols].astype(np.float64)]
        )
        self._mean = points.mean(axis=0)
        self._cov = np.array(nearest_positive_definite(np.cov(points, rowvar=False).tolist()))
        return True

    # ------------------------------------------------------------------ tracking
    def track(
        self,
        filtered: np.ndarray,
        origin: tuple[int, int] = (0, 0),
        raw: np.ndarray | None = None,
    ) -> TrackedObject | None:
        """Update the model with one frame and find the animal in it.

        Parameters
        ----------
        filtered : numpy.ndarray
            ``(rows, cols)`` filtered heights above the floor (mm): the ROI box, or a part of
            it holding every non-zero pixel.
        origin : (int, int), default (0, 0)
            ``(x, y)`` of ``filtered``'s top-left pixel in the ROI box (the model's
            coordinates).
        raw : numpy.ndarray, optional
            The same pixels before filtering (heights, mm): the log-likelihood image kept with
            the object is theirs (moseq2-extract writes the likelihood of the unfiltered
            crops), at most ``ll_clip`` where the cable rule marks a pixel.

        Returns
        -------
        TrackedObject or None
            In ROI-box coordinates, with the log-likelihood image; ``None`` when no animal is
            found (the model is kept).
        """
        if self._mean is None and not self._initialize_from(filtered, origin):
            return None
        rows, cols = filtered.shape
        # The model's coordinates of the image's columns and rows (ROI-box pixels).
        grid = (
            np.arange(cols, dtype=np.float64) + origin[0],
            np.arange(rows, dtype=np.float64) + origin[1],
        )
        if not self._update_model(filtered, origin, grid):
            return None
        return self._find_animal(filtered, origin, grid, raw)

    def _update_model(
        self, filtered: np.ndarray, origin: tuple[int, int], grid: tuple[np.ndarray, np.ndarray]
    ) -> bool:
        """EM on the pixels the model explains, blended into the model; False if it found
        none (again after starting from this frame), the model then unchanged or restarted."""
        in_range = (filtered > self.min_height) & (filtered < self.max_height)
        updated = None
        for attempt in range(2):
            terms = log_likelihood_terms(*grid, self._mean, self._cov)
            candidates = log_likelihood_above(terms, filtered, self.ll_threshold).view(np.uint8)
            if self.segment:
                region = _largest_region(candidates)
                use = None if region is None else region & in_range
            else:
                use = candidates.astype(bool) & in_range
            if use is not None and np.count_nonzero(use) >= 3:
                updated = em_update(
                    image_points(use, filtered, origin), self._mean, self._cov,
                    self.max_iterations, self.tolerance, self.regularization,
                )  # fmt: skip
            if updated is not None:
                break
            # The model lost the animal: start again from this frame.
            if attempt == 0 and not self._initialize_from(filtered, origin):
                return False
        if updated is None:
            return False
        mean, cov = updated
        # Without smoothing (rho 0, the default) the blend is the update itself, exactly.
        if self.rho_mean:
            mean = (1.0 - self.rho_mean) * mean + self.rho_mean * self._mean
        if self.rho_cov:
            cov = (1.0 - self.rho_cov) * cov + self.rho_cov * self._cov
        self._mean, self._cov = mean, cov
        return True

    def _find_animal(
        self,
        filtered: np.ndarray,
        origin: tuple[int, int],
        grid: tuple[np.ndarray, np.ndarray],
        raw: np.ndarray | None,
    ) -> TrackedObject | None:
        """The animal under the updated model: its pixels' moments, in ROI-box coordinates,
        with the log-likelihood image (of ``raw`` when given)."""
        # One model for both images: its pixel-position terms are computed once.
        terms = log_likelihood_terms(*grid, self._mean, self._cov)
        animal = log_likelihood_above(terms, filtered, self.mask_threshold)
        animal &= filtered >= self._low
        limit = (
            None
            if self.cable_sigma is None
            else self._mean[2] + self.cable_sigma * math.sqrt(self._cov[2, 2])
        )
        if limit is not None:
            # A cable thick enough to survive the filters is left out of the moments too.
            animal &= filtered <= limit
        likelihood = log_likelihood(terms, filtered if raw is None else raw)
        if raw is not None and limit is not None:
            likelihood[raw > limit] = min(self.ll_clip, float(likelihood.min()))
        animal = animal.view(np.uint8)
        if self.use_cc:
            animal = largest_component(animal)
        found = self._moments.measure(animal, filtered)
        if found is None:
            return None
        x0, y0 = found.mask_origin
        h, w = found.mask.shape
        on_animal = found.mask.view(bool)
        mean_ll = float(likelihood[y0 : y0 + h, x0 : x0 + w][on_animal].mean())
        found.x += origin[0]
        found.y += origin[1]
        found.mask_origin = (x0 + origin[0], y0 + origin[1])
        found.log_likelihood = likelihood.astype(np.float32)
        found.log_likelihood_origin = (int(origin[0]), int(origin[1]))
        found.mean_log_likelihood = mean_ll
        return found

    # ------------------------------------------------------------------ smoothing
    def smoothing_weights(self, objects: list[TrackedObject | None]) -> np.ndarray | None:
        """Per-frame weights of the model smoother, or None when it is off.

        See :func:`model_smoothing_weights`.

        Parameters
        ----------
        objects : list of TrackedObject or None
            One entry per frame; ``None`` for a frame without an animal (weight 0).

        Returns
        -------
        numpy.ndarray or None
            ``(n_frames,)`` float64 weights in [0, 1], or ``None`` when
            ``model_smoothing_clips`` does not hold ``low < high`` (smoother off).
        """
        low, high = self.model_smoothing_clips
        if not low < high:
            return None
        mean_ll = np.array(
            [obj.mean_log_likelihood if obj is not None else np.nan for obj in objects]
        )
        return model_smoothing_weights(mean_ll, (low, high))


def model_smoothing_weights(mean_ll: np.ndarray, clips: tuple[float, float]) -> np.ndarray:
    """Map mean log-likelihoods to smoothing weights in [0, 1] (1 = trust the frame).

    Parameters
    ----------
    mean_ll : numpy.ndarray
        ``(n,)`` mean log-likelihood of each frame's animal pixels (NaN: no animal, weight 0).
    clips : (float, float)
        Values mapped to 0 and to 1 (``model_smoothing_clips``).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 weights.
    """
    low, high = clips
    weights = np.clip((np.asarray(mean_ll, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return np.nan_to_num(weights, nan=0.0)


def smooth_by_model(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """moseq2-extract's model smoother: frames the model explains poorly follow neighbours.

    A forward pass sets ``v[i] = (1 - w[i]) * v[i-1] + w[i] * v[i]``, then a backward pass
    ``v[i] = (1 - w[i]) * v[i+1] + w[i] * v[i]``. Missing values (NaN) are first filled with
    the nearest valid one and restored afterwards.

    Parameters
    ----------
    values : numpy.ndarray
        ``(n,)`` series (centroid x or y, unwrapped angle).
    weights : numpy.ndarray
        ``(n,)`` weights from :func:`model_smoothing_weights`.

    Returns
    -------
    numpy.ndarray
        The smoothed series (float64).
    """
    series = np.asarray(values, dtype=np.float64).copy()
    missing = ~np.isfinite(series)
    if missing.all() or series.size < 2:
        return series
    index = np.arange(series.size)
    good = index[~missing]
    nearest = good[np.clip(np.searchsorted(good, index), 0, good.size - 1)]
    before = good[np.clip(np.searchsorted(good, index) - 1, 0, good.size - 1)]
    closer = np.abs(before - index) < np.abs(nearest - index)
    series[missing] = series[np.where(closer, before, nearest)][missing]
    w = np.asarray(weights, dtype=np.float64).tolist()
    v = series.tolist()
    for i in range(1, len(v)):
        v[i] = (1.0 - w[i]) * v[i - 1] + w[i] * v[i]
    for i in range(len(v) - 2, -1, -1):
        v[i] = (1.0 - w[i]) * v[i + 1] + w[i] * v[i]
    out = np.asarray(v)
    out[missing] = np.nan
    return out


def _largest_region(binary: np.ndarray) -> np.ndarray | None:
    """bool mask of the largest outer contour (filled) of a uint8 image, or None."""
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    region = np.zeros(binary.shape, dtype=np.uint8)
    cv2.drawContours(region, [best], -1, 1, thickness=cv2.FILLED)
    return region.view(bool)
