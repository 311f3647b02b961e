"""Which end is the nose: flip correctors.

The tracker knows the body axis only modulo pi. A flip corrector decides, per frame, whether the
angle points at the nose (keep) or at the tail (flip: angle + pi, crop and mask rotated 180
degrees); :class:`~depthextractors.extraction.session.SessionExtraction` applies its decisions.

:class:`MotionFlipCorrector` needs no model. It treats the orientation as a two-state hidden
sequence (0: the angle points at the nose, pi: at the tail) and decodes it with the Viterbi
algorithm, chunk by chunk over the whole session:

- evidence per frame, as a log-likelihood ratio in nats (positive: keep):
  *motion* — mice walk forwards, so the cosine between the body direction and the velocity
  (centroid displacement over ``velocity_span`` frames on each side, divided by the real time
  between them) counts, weighted by the speed (nothing below ``min_speed_mm_s``, full weight
  from ``full_speed_mm_s``); *shape* — the rear is taller and wider than the head, so the
  height mass of the animal's mask behind the centroid exceeds the mass in front of it
  (``(rear - front) / (rear + front)``, scaled by ``shape_scale`` and capped);
- transitions: turning round between two frames costs ``switch_cost`` nats when the body axis
  did not move, less when it turned (the two readings of a turn of ``d`` radians differ by
  ``switch_cost * cos(d)``), and less over frames where the animal was not found;
- continuity across chunks: the decision of the last frame of a chunk is carried into the next,
  and each chunk is decoded together with the ``lookahead`` frames that follow it (the session
  passes them), so the frames at a chunk's end are decided with future evidence too. Memory is
  bounded by the chunk; every decision is made once;
- confidence: the forward-backward posterior probability of the chosen orientation, saved as
  ``/metadata/extraction/flip_confidence``.

:class:`ClassifierFlipCorrector` uses a scikit-learn classifier trained on extracted crops
(:func:`train_flip_classifier`), saved in a portable file with its metadata.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import platform
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..cameras import CameraModel
from .outputs import ExtractionResults, get_output_backend

__all__ = [
    "ClassifierFlipCorrector",
    "FlipClassifierError",
    "FlipContext",
    "FlipCorrector",
    "FlipDecision",
    "MotionFlipCorrector",
    "train_flip_classifier",
]

logger = logging.getLogger(__name__)


@dataclass
class FlipContext:
    """What a flip corrector sees of one chunk of finished frames.

    Attributes
    ----------
    start : int
        Index of the first frame in the results.
    frames : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` crops rotated by :attr:`angle` (the nose is east when the
        angle points at the head, west when it points at the tail).
    masks : numpy.ndarray
        ``(n, crop_rows, crop_cols)`` bool animal masks, rotated the same way (with the EM
        tracker: log-likelihood above its ``mask_threshold`` and at least ``min_height``).
    angle : numpy.ndarray
        ``(n,)`` body angle, radians, y up (NaN where no animal).
    centroid_px : numpy.ndarray
        ``(n, 2)`` full-frame ``(x, y)`` centroid, pixels (NaN where no animal).
    valid : numpy.ndarray
        ``(n,)`` bool, where the animal was found.
    timestamps_s : numpy.ndarray
        ``(n,)`` frame times, seconds.
    camera : CameraModel
        The camera.
    true_depth : float
        Floor depth, millimetres.
    lookahead : FlipContext or None
        The frames that follow the chunk, up to the corrector's ``lookahead`` (fewer at the end
        of the session; ``None`` when it asks for none): evidence only, decided when their own
        chunk comes. Their values can differ slightly from their final ones (the Hampel
        filters see fewer frames after them).
    """

    start: int
    frames: np.ndarray
    masks: np.ndarray
    angle: np.ndarray
    centroid_px: np.ndarray
    valid: np.ndarray
    timestamps_s: np.ndarray
    camera: CameraModel
    true_depth: float
    lookahead: FlipContext | None = None

    def __len__(self) -> int:
        return int(self.angle.shape[0])


@dataclass
class FlipDecision:
    """A flip corrector's answer for one chunk, with its confidence.

    Attributes
    ----------
    flips : numpy.ndarray
        ``(n,)`` bool, frames to turn round.
    confidence : numpy.ndarray
        ``(n,)`` float, probability that the orientation chosen for each frame is right
        (normally 0.5 to 1), NaN where the animal was not found. Written to
        ``/metadata/extraction/flip_confidence``.
    """

    flips: np.ndarray
    confidence: np.ndarray


@runtime_checkable
class FlipCorrector(Protocol):
    """Decides which frames show the animal the wrong way round.

    ``correct`` is called once per chunk, in order, and returns a bool per frame, or a
    :class:`FlipDecision` (bools and a confidence per frame); ``True`` turns that frame round
    (its angle gains pi and its crop and mask rotate by 180 degrees). The session applies each
    decision exactly once. Optional members: ``lookahead`` (int, frames after each chunk the
    corrector wants to see, given as :attr:`FlipContext.lookahead`), ``reset()`` (called before
    the first chunk of every run), ``finalize()`` (called once after the last chunk),
    ``check_crop_size(crop_size)`` (called when the session is created; raises for crops it
    cannot handle) and ``parameters()`` (a dict recorded with the extraction parameters).
    """

    def correct(self, context: FlipContext) -> np.ndarray | FlipDecision:
        """Frames of ``context`` to flip, ``(n,)`` bool (or a :class:`FlipDecision`).

        Parameters
        ----------
        context : FlipContext
            One chunk of finished frames, in session order.

        Returns
        -------
        numpy.ndarray or FlipDecision
            ``(n,)`` bool, True for frames to turn round; or a :class:`FlipDecision` that also
            carries a per-frame confidence.
        """



class MotionFlipCorrector:
    """Orient the animal from its motion and body shape, consistently over the session.

    Parameters
    ----------
    motion_weight : float, default 3
        Evidence (nats per frame) of walking at ``full_speed_mm_s`` along the body axis.
    min_speed_mm_s : float, default 20
        Speeds below this give no motion evidence (mm/s; turning in place, noise).
    full_speed_mm_s : float, default 60
        Speed from which motion evidence has its full weight (mm/s).
    velocity_span : int, default 3
        Frames on each side of a frame used for its velocity.
    shape_weight : float, default 1
        Largest evidence (nats per frame) of the body shape.
    shape_scale : float, default 0.1
        Front/rear height-mass asymmetry ``(rear - front) / (rear + front)`` that gives the
        full ``shape_weight``.
    switch_cost : float, default 20
        Cost (nats) of turning the animal round between consecutive frames when its body axis
        did not move.
    lookahead : int, default 30
        Frames after each chunk decoded with it (future evidence for the chunk's last frames);
        the session reads and crops them twice.

    Notes
    -----
    Stateful: one instance follows one session at a time (the session calls :meth:`reset`
    before it starts).
    """

    def __init__(
        self,
        motion_weight: float = 3.0,
        min_speed_mm_s: float = 20.0,
        full_speed_mm_s: float = 60.0,
        velocity_span: int = 3,
        shape_weight: float = 1.0,
        shape_scale: float = 0.1,
        switch_cost: float = 20.0,
        lookahead: int = 30,
    ) -> None:
        for name, value in (
            ("motion_weight", motion_weight),
            ("shape_weight", shape_weight),
            ("min_speed_mm_s", min_speed_mm_s),
        ):
            if not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not float(full_speed_mm_s) > float(min_speed_mm_s):
            raise ValueError(
                f"full_speed_mm_s ({full_speed_mm_s}) must exceed min_speed_mm_s ({min_speed_mm_s})"
            )
        if not float(shape_scale) > 0 or not float(switch_cost) > 0:
            raise ValueError(
                f"shape_scale and switch_cost must be > 0, got {shape_scale} and {switch_cost}"
            )
        if int(velocity_span) < 1 or int(lookahead) < 0:
            raise ValueError(
                f"velocity_span must be >= 1 and lookahead >= 0 frames, got {velocity_span} and "
                f"{lookahead}"
            )
        self.motion_weight = float(motion_weight)
        self.min_speed_mm_s = float(min_speed_mm_s)
        self.full_speed_mm_s = float(full_speed_mm_s)
        self.velocity_span = int(velocity_span)
        self.shape_weight = float(shape_weight)
        self.shape_scale = float(shape_scale)
        self.switch_cost = float(switch_cost)
        self.lookahead = int(lookahead)
        self.reset()

    def __repr__(self) -> str:
        return (
            f"MotionFlipCorrector(motion_weight={self.motion_weight:g}, "
            f"shape_weight={self.shape_weight:g}, switch_cost={self.switch_cost:g}, "
            f"lookahead={self.lookahead})"
        )

    def parameters(self) -> dict[str, Any]:
        """Settings, recorded with the extraction parameters (prefixed ``flip_``)."""
        return {
            "motion_weight": self.motion_weight,
            "min_speed_mm_s": self.min_speed_mm_s,
            "full_speed_mm_s": self.full_speed_mm_s,
            "velocity_span": self.velocity_span,
            "shape_weight": self.shape_weight,
            "shape_scale": self.shape_scale,
            "switch_cost": self.switch_cost,
            "lookahead": self.lookahead,
        }

    def reset(self) -> None:
        """Forget the session followed so far."""
        # Last decided frame with the animal: (index, angle before flipping, state 0/1).
        self._last: tuple[int, float, int] | None = None
        # Centroids, times and validity of the last frames decided (for velocities).
        self._history = (np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=bool))

    # ------------------------------------------------------------------ evidence
    def _evidence(
        self,
        context: FlipContext,
        centroids: np.ndarray,
        times: np.ndarray,
        valid: np.ndarray,
        offset: int,
    ) -> np.ndarray:
        """Evidence of the frames ``offset:`` of the stacked series (context, then lookahead)."""
        total = centroids.shape[0]
        index = np.arange(offset, total)
        span = self.velocity_span
        before = np.clip(index - span, 0, total - 1)
        after = np.clip(index + span, 0, total - 1)
        dt = times[after] - times[before]
        usable = valid[before] & valid[after] & valid[index] & (dt > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            velocity = (centroids[after] - centroids[before]) / dt[:, None]
        mm_x, mm_y = context.camera.mm_per_pixel(context.true_depth)
        velocity_mm = velocity * (mm_x, mm_y)
        speed = np.hypot(velocity_mm[:, 0], velocity_mm[:, 1])
        angle = _concat(context, "angle")
        # Body direction in image coordinates (rows point down, the angle has y up).
        along = (velocity_mm[:, 0] * np.cos(angle) - velocity_mm[:, 1] * np.sin(angle)) / np.where(
            speed > 0, speed, 1.0
        )
        ramp = (speed - self.min_speed_mm_s) / (self.full_speed_mm_s - self.min_speed_mm_s)
        motion = self.motion_weight * np.clip(ramp, 0.0, 1.0) * along
        motion = np.where(usable & np.isfinite(motion), motion, 0.0)

        # Heights on the animal's mask only: the tail, a cable or a hand in the crop would
        # weigh on one side.
        frames = _concat(context, "frames") * _concat(context, "masks")
        middle = frames.shape[2] // 2
        # Height mass behind the centroid (west, when the angle points at the nose) and in
        # front of it; the centre column belongs to neither.
        rear = frames[:, :, :middle].sum(axis=(1, 2), dtype=np.float64)
        front = frames[:, :, middle + 1 :].sum(axis=(1, 2), dtype=np.float64)
        total_mass = rear + front
        with np.errstate(invalid="ignore", divide="ignore"):
            asymmetry = np.where(total_mass > 0, (rear - front) / total_mass, 0.0)
        shape = self.shape_weight * np.clip(asymmetry / self.shape_scale, -1.0, 1.0)
        found = _concat(context, "valid")
        return np.where(found, motion + shape, 0.0)

    # ------------------------------------------------------------------ decoding
    def correct(self, context: FlipContext) -> FlipDecision:
        """Decide the chunk's flips, using the frames after it as evidence too.

        Parameters
        ----------
        context : FlipContext
            One chunk of finished frames (in session order).

        Returns
        -------
        FlipDecision
            Flips and confidence for the chunk's frames.
        """
        n = len(context)
        centroids, times, valid = _stack(context, self._history)
        offset = (
            centroids.shape[0]
            - n
            - (len(context.lookahead) if context.lookahead is not None else 0)
        )
        evidence = self._evidence(context, centroids, times, valid, offset)
        angle = _concat(context, "angle")
        found = _concat(context, "valid")
        states, posterior = self._decode(context.start, evidence, angle, found)

        flips = states[:n] == 1
        confidence = np.full(n, np.nan, dtype=np.float32)
        chosen = np.where(states[:n] == 1, posterior[:n], 1.0 - posterior[:n])
        confidence[found[:n]] = chosen[found[:n]]

        decided = np.flatnonzero(found[:n])
        if decided.size:
            last = int(decided[-1])
            self._last = (context.start + last, float(angle[last]), int(states[last]))
        keep = self.velocity_span
        end = offset + n
        self._history = (
            centroids[max(0, end - keep) : end],
            times[max(0, end - keep) : end],
            valid[max(0, end - keep) : end],
        )
        return FlipDecision(flips=flips, confidence=confidence)

    def _decode(
        self, start: int, evidence: np.ndarray, angle: np.ndarray, found: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Viterbi states (0 keep, 1 flip) and posterior P(flip) of every frame."""
        count = evidence.shape[0]
        states = np.zeros(count, dtype=np.int8)
        posterior = np.full(count, 0.5)
        frames = np.flatnonzero(found)
        if frames.size == 0:
            return states, posterior
        # Log-probabilities of staying / switching into each frame from the previous frame
        # with the animal (the first one from the frame carried over from the last chunk).
        previous_index = np.empty(frames.size, dtype=np.int64)
        previous_angle = np.empty(frames.size)
        previous_index[1:] = frames[:-1] + start
        previous_angle[1:] = angle[frames[:-1]]
        has_prior = self._last is not None
        if has_prior:
            previous_index[0], previous_angle[0], prior_state = self._last
        else:
            previous_index[0], previous_angle[0] = frames[0] + start - 1, angle[frames[0]]
            prior_state = 0
        gap = np.maximum(frames + start - previous_index, 1)
        kappa = 0.5 * self.switch_cost / gap
        turn = np.cos(angle[frames] - previous_angle)
        log_stay, log_switch = _log_normalise(-kappa * (1 - turn), -kappa * (1 + turn))
        emit = 0.5 * evidence[frames]

        m = frames.size
        stay = log_stay.tolist()
        switch = log_switch.tolist()
        e = emit.tolist()
        # Initial scores: from the carried state, or even odds at the session's start.
        if has_prior:
            keep0 = stay[0] if prior_state == 0 else switch[0]
            flip0 = switch[0] if prior_state == 0 else stay[0]
        else:
            keep0 = flip0 = 0.0
        # Viterbi.
        v0, v1 = keep0 + e[0], flip0 - e[0]
        back = bytearray(2 * m)
        for t in range(1, m):
            a = v0 + stay[t]
            b = v1 + switch[t]
            c = v1 + stay[t]
            d = v0 + switch[t]
            if a >= b:
                n0 = a
            else:
                n0 = b
                back[2 * t] = 1
            if c >= d:
                n1 = c
                back[2 * t + 1] = 1
            else:
                n1 = d
            v0, v1 = n0 + e[t], n1 - e[t]
        path = bytearray(m)
        state = 0 if v0 >= v1 else 1
        for t in range(m - 1, -1, -1):
            path[t] = state
            state = back[2 * t + state] if t > 0 else state
        # Forward-backward for the posterior of each state.
        alpha = np.empty((m, 2))
        f0, f1 = keep0 + e[0], flip0 - e[0]
        alpha[0] = f0, f1
        for t in range(1, m):
            f0, f1 = (
                _logaddexp(f0 + stay[t], f1 + switch[t]) + e[t],
                _logaddexp(f1 + stay[t], f0 + switch[t]) - e[t],
            )
            alpha[t] = f0, f1
        beta = np.zeros((m, 2))
        b0 = b1 = 0.0
        for t in range(m - 1, 0, -1):
            g0, g1 = b0 + e[t], b1 - e[t]
            b0, b1 = (
                _logaddexp(stay[t] + g0, switch[t] + g1),
                _logaddexp(stay[t] + g1, switch[t] + g0),
            )
            beta[t - 1] = b0, b1
        joint = alpha + beta
        flip_probability = 1.0 / (1.0 + np.exp(np.clip(joint[:, 0] - joint[:, 1], -700, 700)))
        states[frames] = np.frombuffer(bytes(path), dtype=np.int8)
        posterior[frames] = flip_probability
        return states, posterior


def _logaddexp(a: float, b: float) -> float:
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


def _log_normalise(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = np.logaddexp(a, b)
    return a - total, b - total


def _concat(context: FlipContext, name: str) -> np.ndarray:
    """An attribute of the context followed by the same attribute of its look-ahead."""
    value = getattr(context, name)
    if context.lookahead is None:
        return value
    return np.concatenate([value, getattr(context.lookahead, name)])


def _stack(context: FlipContext, history: tuple | None) -> tuple[np.ndarray, ...]:
    """Centroids (px), times (s) and validity of history + context + look-ahead."""
    centroids = _concat(context, "centroid_px")
    times = _concat(context, "timestamps_s")
    valid = _concat(context, "valid")
    if history is not None and history[0].shape[0]:
        centroids = np.concatenate([history[0], centroids])
        times = np.concatenate([history[1], times])
        valid = np.concatenate([history[2], valid])
    return np.asarray(centroids, dtype=np.float64), np.asarray(times, np.float64), valid


# ------------------------------------------------------------------------------------------
# The classifier corrector
# ------------------------------------------------------------------------------------------
#: Identifies the classifier files written by :meth:`ClassifierFlipCorrector.save`.
CLASSIFIER_FORMAT = "depthextractors-flip-classifier"
#: Version of that file layout this library reads and writes.
CLASSIFIER_FORMAT_VERSION = 1
# Heights are divided by this before classification, so features are around 0-1.
_HEIGHT_SCALE_MM = 100.0


class FlipClassifierError(ValueError):
    """A flip classifier file cannot be used (corrupt, foreign, newer, or another crop size)."""


class ClassifierFlipCorrector:
    """Orient the animal with a classifier trained on extracted crops.

    The classifier (scikit-learn ``LogisticRegression`` on the crop downsampled to
    ``feature_size``, heights in units of 100 mm) gives, per frame, the probability that the
    crop shows the nose west (needs turning round). The probabilities are median-filtered over
    ``smoothing`` frames, across chunk boundaries, as moseq2-extract's
    ``flip_classifier_smoothing``; a frame is flipped when the smoothed probability exceeds 0.5.
    Train one with :func:`train_flip_classifier`, keep it with :meth:`save`, use it with
    :meth:`load`.

    Parameters
    ----------
    model : sklearn.linear_model.LogisticRegression
        Fitted on :meth:`features` of crops, classes 0 (nose east) and 1 (nose west).
    crop_size : (int, int)
        ``(rows, cols)`` of the crops it was trained on; other crop sizes are refused.
    feature_size : (int, int), default (20, 20)
        ``(rows, cols)`` the crops are downsampled to (area averaging).
    smoothing : int, default 51
        Median filter length over frames (odd; 0 or 1 switches it off).
    metadata : dict, optional
        Camera, library versions and training summary (kept in the saved file).

    Attributes
    ----------
    path : str or None
        The file it was loaded from (recorded as the ``flip_classifier`` parameter).
    """

    def __init__(
        self,
        model: Any,
        crop_size: tuple[int, int],
        feature_size: tuple[int, int] = (20, 20),
        smoothing: int = 51,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
            raise TypeError(
                "model must be a fitted scikit-learn classifier with predict_proba, got "
                f"{type(model).__name__}"
            )
        if sorted(int(c) for c in model.classes_) != [0, 1]:
            raise FlipClassifierError(
                f"the classifier's classes must be 0 (nose east) and 1 (nose west), got "
                f"{list(model.classes_)}"
            )
        self.model = model
        self.crop_size = _pair(crop_size, "crop_size")
        self.feature_size = _pair(feature_size, "feature_size")
        expected = self.feature_size[0] * self.feature_size[1]
        found = getattr(model, "n_features_in_", expected)
        if found != expected:
            raise FlipClassifierError(
                f"the classifier takes {found} features but feature_size {self.feature_size} "
                f"gives {expected}"
            )
        smoothing = int(smoothing)
        if smoothing < 0 or (smoothing > 1 and smoothing % 2 == 0):
            raise ValueError(
                f"smoothing must be an odd number of frames (or 0 to switch it off), got "
                f"{smoothing}"
            )
        self.smoothing = smoothing
        self.metadata = dict(metadata or {})
        self.path: str | None = None
        self.reset()

    def __repr__(self) -> str:
        where = f", path={self.path!r}" if self.path else ""
        return (
            f"ClassifierFlipCorrector(crop_size={self.crop_size}, smoothing={self.smoothing}"
            f"{where})"
        )

    @property
    def lookahead(self) -> int:
        """Frames after each chunk the median filter needs (half its length)."""
        return self.smoothing // 2

    def parameters(self) -> dict[str, Any]:
        """Settings recorded with the extraction parameters."""
        return {
            "flip_classifier_smoothing": self.smoothing,
            "flip_classifier_crop_size": list(self.crop_size),
            "flip_classifier_camera": self.metadata.get("camera"),
        }

    def reset(self) -> None:
        """Forget the session followed so far."""
        self._history = np.zeros(0)
        self._warned_camera = False

    def check_crop_size(self, crop_size: tuple[int, int]) -> None:
        """Raise :class:`FlipClassifierError` unless crops of ``crop_size`` can be classified.

        Parameters
        ----------
        crop_size : (int, int)
            ``(rows, cols)`` of the extraction's crops, pixels.

        Raises
        ------
        FlipClassifierError
            If ``crop_size`` differs from the crop size the classifier was trained on.
        """
        if tuple(int(v) for v in crop_size) != self.crop_size:
            raise FlipClassifierError(
                f"this flip classifier was trained on {self.crop_size[0]}x{self.crop_size[1]} "
                f"crops but the extraction crops {crop_size[0]}x{crop_size[1]}; set "
                f"crop_size={self.crop_size} or train a classifier on crops of this size "
                "(train_flip_classifier)"
            )

    # ------------------------------------------------------------------ prediction
    def features(self, frames: np.ndarray) -> np.ndarray:
        """``(n, features)`` float64 classifier input of ``(n, rows, cols)`` crops (mm).

        Parameters
        ----------
        frames : numpy.ndarray
            ``(n, rows, cols)`` rotated crops, heights in mm.

        Returns
        -------
        numpy.ndarray
            ``(n, feature_rows * feature_cols)`` float64: the crops downsampled (area
            average) to ``feature_size``, in units of 100 mm, flattened.

        Raises
        ------
        ValueError
            If ``frames`` is not three-dimensional.
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        frames = np.asarray(frames)
        if frames.ndim != 3:
            raise ValueError(f"frames must be (n, rows, cols) crops, got shape {frames.shape}")
        self.check_crop_size(frames.shape[1:])
        return _crop_features(frames, self.feature_size)

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        """Probability that each crop shows the nose west, ``(n,)`` float64, unsmoothed.

        Parameters
        ----------
        frames : numpy.ndarray
            ``(n, rows, cols)`` rotated crops, heights in mm (``n`` may be 0).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` float64 probabilities in [0, 1].

        Raises
        ------
        ValueError
            If ``frames`` is not three-dimensional.
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        if len(frames) == 0:
            return np.zeros(0)
        column = list(self.model.classes_).index(1)
        return self.model.predict_proba(self.features(frames))[:, column]

    def correct(self, context: FlipContext) -> FlipDecision:
        """Flip the frames whose smoothed probability of facing west exceeds 0.5.

        The probabilities are median-filtered over ``smoothing`` frames, using the frames
        kept from earlier chunks and ``context.lookahead``. Warns (once) when the recording's
        camera is not the one the classifier was trained on.

        Parameters
        ----------
        context : FlipContext
            One chunk of finished frames, in session order.

        Returns
        -------
        FlipDecision
            Flips (``(n,)`` bool) and confidence (``(n,)`` float32, the smoothed probability
            of the chosen orientation; NaN where no animal was found).

        Raises
        ------
        FlipClassifierError
            If the crops are not of the classifier's ``crop_size``.
        """
        camera = self.metadata.get("camera")
        if camera and camera != context.camera.name and not self._warned_camera:
            warnings.warn(
                f"the flip classifier was trained on {camera} crops; this recording is from "
                f"{context.camera.name}. Check the flips, or train a classifier for this camera",
                stacklevel=2,
            )
            self._warned_camera = True
        n = len(context)
        probability = np.full(n, np.nan)
        probability[context.valid] = self.predict_proba(context.frames[context.valid])
        ahead = np.zeros(0)
        if context.lookahead is not None and len(context.lookahead):
            ahead = np.full(len(context.lookahead), np.nan)
            valid = context.lookahead.valid
            ahead[valid] = self.predict_proba(context.lookahead.frames[valid])
        radius = self.lookahead
        series = np.concatenate([self._history, probability, ahead])
        first = self._history.size
        smoothed = _running_nanmedian(series, radius)[first : first + n]
        self._history = series[: first + n][-radius:] if radius else np.zeros(0)
        found = context.valid & np.isfinite(smoothed)
        flips = found & (smoothed > 0.5)
        confidence = np.where(found, np.maximum(smoothed, 1.0 - smoothed), np.nan)
        return FlipDecision(flips=flips, confidence=confidence.astype(np.float32))

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the classifier and its metadata to a portable file.

        The file is a NumPy ``.npz`` archive (no pickles, so loading never runs code and does
        not depend on the scikit-learn version): the model's coefficients, intercept and
        classes, and a JSON header with the format, crop and feature sizes, camera, library
        versions and training summary.

        Parameters
        ----------
        path : path-like
            File to write (replaced if it exists; written to ``<path>.partial`` first).

        Returns
        -------
        pathlib.Path
        """
        model = self.model
        if type(model).__name__ != "LogisticRegression":
            raise TypeError(
                f"only LogisticRegression classifiers can be saved portably, got "
                f"{type(model).__name__}"
            )
        header = dict(self.metadata)
        header.update(
            {
                "format": CLASSIFIER_FORMAT,
                "format_version": CLASSIFIER_FORMAT_VERSION,
                "model": "LogisticRegression",
                "crop_size": list(self.crop_size),
                "feature_size": list(self.feature_size),
                "height_scale_mm": _HEIGHT_SCALE_MM,
                "smoothing": self.smoothing,
            }
        )
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(
                handle,
                header=np.array(json.dumps(header)),
                coef=np.asarray(model.coef_, dtype=np.float64),
                intercept=np.asarray(model.intercept_, dtype=np.float64),
                classes=np.asarray(model.classes_, dtype=np.int64),
            )
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, smoothing: int | None = None) -> ClassifierFlipCorrector:
        """Read a classifier written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The file.
        smoothing : int, optional
            Median filter length over frames; the value saved with the classifier by default.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        FlipClassifierError
            If the file is corrupt, is not a depthextractors flip classifier (e.g. a moseq2
            pickle), or was written by a newer version.
        """
        from sklearn.linear_model import LogisticRegression

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no flip classifier at {path}")
        advice = (
            "train one with depthextractors.extraction.train_flip_classifier (moseq2-extract's "
            "pickled random forests are not loaded: they need scikit-learn 0.19/0.20 and "
            "unpickling runs arbitrary code)"
        )
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive["header"][()]))
                coef = np.array(archive["coef"], dtype=np.float64)
                intercept = np.array(archive["intercept"], dtype=np.float64)
                classes = np.array(archive["classes"], dtype=np.int64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise FlipClassifierError(
                f"{path} is not a readable depthextractors flip classifier ({error}); {advice}"
            ) from error
        if not isinstance(header, dict) or header.get("format") != CLASSIFIER_FORMAT:
            raise FlipClassifierError(f"{path} is not a depthextractors flip classifier; {advice}")
        version = header.get("format_version")
        if not isinstance(version, int) or version > CLASSIFIER_FORMAT_VERSION:
            raise FlipClassifierError(
                f"{path} has flip classifier format {version!r}; this depthextractors reads "
                f"format {CLASSIFIER_FORMAT_VERSION} and older. Upgrade depthextractors or "
                "retrain the classifier"
            )
        try:
            crop_size = _pair(header["crop_size"], "crop_size")
            feature_size = _pair(header["feature_size"], "feature_size")
            saved_smoothing = int(header.get("smoothing", 51))
        except (KeyError, TypeError, ValueError) as error:
            raise FlipClassifierError(f"{path}: incomplete classifier header ({error})") from error
        features = feature_size[0] * feature_size[1]
        if coef.shape != (1, features) or intercept.shape != (1,) or classes.shape != (2,):
            raise FlipClassifierError(
                f"{path}: coefficients of shape {coef.shape} do not match feature_size "
                f"{feature_size} (expected (1, {features})); the file is damaged"
            )
        if float(header.get("height_scale_mm", _HEIGHT_SCALE_MM)) != _HEIGHT_SCALE_MM:
            raise FlipClassifierError(f"{path}: unknown height scale; retrain the classifier")
        model = LogisticRegression()
        model.coef_ = coef
        model.intercept_ = intercept
        model.classes_ = classes
        model.n_features_in_ = features
        metadata = {
            key: value
            for key, value in header.items()
            if key not in ("crop_size", "feature_size", "smoothing", "height_scale_mm")
        }
        corrector = cls(
            model,
            crop_size,
            feature_size,
            saved_smoothing if smoothing is None else smoothing,
            metadata,
        )
        corrector.path = str(path)
        return corrector


def train_flip_classifier(
    sources: Sequence[str | os.PathLike | ExtractionResults],
    labels: Sequence[np.ndarray] | None = None,
    *,
    min_confidence: float = 0.99,
    max_frames: int = 20000,
    feature_size: tuple[int, int] = (20, 20),
    smoothing: int = 51,
    regularization: float = 1.0,
    held_out_fraction: float = 0.2,
    seed: int = 0,
) -> ClassifierFlipCorrector:
    """Train a :class:`ClassifierFlipCorrector` from extracted sessions.

    Each crop used gives two training examples: as stored (label from below) and rotated 180
    degrees (the opposite label), so both classes are balanced and the classifier learns the
    animal's front/rear asymmetry, not the orientation mix of the sessions.

    Parameters
    ----------
    sources : sequence of path-like or ExtractionResults
        ``results_00.h5`` files (or their directories), or results in memory.
    labels : sequence of numpy.ndarray, optional
        One array per source, per frame: 0 = the stored crop has its nose east, 1 = west,
        -1 = unknown (not used). Without labels, the frames the flip corrector of the
        extraction (e.g. :class:`MotionFlipCorrector`) oriented with a confidence of at least
        ``min_confidence`` are taken as nose east.
    min_confidence : float, default 0.99
        Flip confidence a frame needs to be used when no labels are given.
    max_frames : int, default 20000
        At most this many labelled frames are used (a seeded random sample over all sources).
    feature_size : (int, int), default (20, 20)
        Crops are downsampled to this ``(rows, cols)`` size.
    smoothing : int, default 51
        Median filter length saved with the classifier (``flip_classifier_smoothing``).
    regularization : float, default 1
        Inverse regularisation strength ``C`` of the logistic regression.
    held_out_fraction : float, default 0.2
        Fraction of frames kept out of training to measure the accuracy in the summary.
    seed : int, default 0
        Seed of the sampling and the split.

    Returns
    -------
    ClassifierFlipCorrector
        Its ``metadata["training"]`` summarises the data and the held-out accuracy.

    Raises
    ------
    ValueError
        If a source has no flip confidence and no labels are given, if labels do not match the
        frames or hold values other than -1, 0 and 1, if the sessions have different crop
        sizes, if ``smoothing`` is even, or if fewer than 20 labelled frames are found.
    """
    from sklearn import __version__ as sklearn_version
    from sklearn.linear_model import LogisticRegression

    if labels is not None and len(labels) != len(sources):
        raise ValueError(
            f"labels must give one array per source: {len(sources)} sources, {len(labels)} arrays"
        )
    if not 0 <= held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    if int(smoothing) < 0 or (int(smoothing) > 1 and int(smoothing) % 2 == 0):
        # Checked before training, which can take a while, rather than by the constructor after.
        raise ValueError(
            f"smoothing must be an odd number of frames (or 0 to switch it off), got {smoothing}"
        )
    opened = [_open_results(source) for source in sources]
    crop_sizes = {tuple(int(v) for v in results.frames.shape[1:]) for results in opened}
    if len(crop_sizes) != 1:
        raise ValueError(f"the sessions have different crop sizes {sorted(crop_sizes)}")
    crop_size = crop_sizes.pop()
    cameras = {results.parameters.get("camera_type") for results in opened} - {None}

    # Which frames are labelled, and how, per source.
    chosen: list[tuple[int, np.ndarray, np.ndarray]] = []
    for k, results in enumerate(opened):
        valid = results.valid
        if labels is not None:
            label = np.asarray(labels[k])
            if label.shape != (len(results),):
                raise ValueError(
                    f"labels[{k}] has shape {label.shape}; source {k} has {len(results)} frames"
                )
            unknown_values = np.setdiff1d(np.unique(label), [-1, 0, 1])
            if unknown_values.size:
                raise ValueError(
                    f"labels[{k}] may hold only 0 (nose east), 1 (nose west) and -1 (unknown), "
                    f"found {unknown_values[:5].tolist()}"
                )
            usable = valid & (label >= 0)
            chosen.append((k, np.flatnonzero(usable), label[usable].astype(np.int64)))
        else:
            if results.flip_confidence is None:
                raise ValueError(
                    f"source {k} has no flip confidence (no flip corrector ran); extract it with "
                    "MotionFlipCorrector or pass labels"
                )
            confidence = np.asarray(results.flip_confidence[:], dtype=np.float64)
            with np.errstate(invalid="ignore"):
                usable = valid & (confidence >= min_confidence)
            index = np.flatnonzero(usable)
            chosen.append((k, index, np.zeros(index.size, dtype=np.int64)))
    total = sum(index.size for _, index, _ in chosen)
    if total < 20:
        raise ValueError(
            f"only {total} labelled frames found (at least 20 needed); lower min_confidence or "
            "give labels"
        )
    rng = np.random.default_rng(seed)
    keep_fraction = min(1.0, max_frames / total)
    crops, targets = [], []
    for k, index, label in chosen:
        if keep_fraction < 1.0:
            pick = np.sort(rng.choice(index.size, round(index.size * keep_fraction), False))
            index, label = index[pick], label[pick]
        if index.size:
            crops.append(np.asarray(opened[k].frames[index]))
            targets.append(label)
    frames = np.concatenate(crops)
    target = np.concatenate(targets)
    # Each crop and its 180-degree rotation, with opposite labels.
    frames = np.concatenate([frames, frames[:, ::-1, ::-1]])
    target = np.concatenate([target, 1 - target])
    features = _crop_features(frames, _pair(feature_size, "feature_size"))
    order = rng.permutation(target.size // 2)
    held = order[: round(order.size * held_out_fraction)]
    train = np.setdiff1d(order, held)
    train = np.concatenate([train, train + target.size // 2])
    held = np.concatenate([held, held + target.size // 2])
    model = LogisticRegression(C=float(regularization), max_iter=1000)
    model.fit(features[train], target[train])
    accuracy = float(model.score(features[held], target[held])) if held.size else None
    metadata = {
        "camera": cameras.pop() if len(cameras) == 1 else None,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "depthextractors": _package_version(),
            "scikit-learn": sklearn_version,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "training": {
            "sources": [str(getattr(r, "path", None) or f"in-memory results {i}")
                        for i, r in enumerate(opened)],
            "labels": "given" if labels is not None else f"flip_confidence >= {min_confidence}",
            "frames": int(target.size // 2),
            "examples": int(train.size),
            "held_out_accuracy": accuracy,
            "regularization": float(regularization),
            "seed": int(seed),
        },
    }  # fmt: skip
    logger.info(
        "flip classifier trained on %d frames; held-out accuracy %s", target.size // 2, accuracy
    )
    return ClassifierFlipCorrector(model, crop_size, feature_size, smoothing, metadata)


def _crop_features(frames: np.ndarray, feature_size: tuple[int, int]) -> np.ndarray:
    """Crops downsampled (area average) to ``feature_size``, in units of 100 mm, flattened."""
    rows, cols = feature_size
    # float64 throughout, so a model trained here and one loaded from its file (float64
    # coefficients) compute exactly the same probabilities.
    out = np.empty((frames.shape[0], rows * cols), dtype=np.float64)
    for i, frame in enumerate(frames):
        small = cv2.resize(frame.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        out[i] = small.ravel()
    out /= _HEIGHT_SCALE_MM
    return out


def _open_results(source: Any) -> ExtractionResults:
    if isinstance(source, ExtractionResults):
        return source
    # Read through the registered output backend: extraction does not import io.
    return get_output_backend().read_results(Path(source))


def _package_version() -> str:
    from .. import __version__

    return __version__


def _pair(value: Any, name: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (rows, cols), got {value!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return rows, cols


def _running_nanmedian(values: np.ndarray, radius: int) -> np.ndarray:
    """Median of each value's window of ``2 * radius + 1``, ignoring NaN; windows clip at ends."""
    if radius <= 0 or values.size == 0:
        return values.copy()
    padded = np.pad(values, radius, constant_values=np.nan)
    windows = sliding_window_view(padded, 2 * radius + 1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return np.nanmedian(windows, axis=1)
