"""Which end is the nose, from motion and body shape: :class:`MotionFlipCorrector`.

:class:`MotionFlipCorrector` needs no model. It treats the orientation as a two-state hidden
sequence (0: the angle points at the nose, pi: at the tail) and decodes it with the Viterbi
algorithm, chunk by chunk over the whole session:

- evidence per frame, as a log-likelihood ratio in nats (positive: keep):
  *motion* — mice walk forwards, so the cosine between the body direction and the velocity
  (centroid displacement over ``velocity_span`` frames on each side, divided by the real time
  between them) counts, weighted by the speed (nothing below ``min_speed_mm_s``, full weight
  from ``full_speed_mm_s``); *shape* — the rear is taller and wider than the head, so the
  height mass of the animal's mask behind the centroid exceeds the mass in front of it
  (``(rear - front) / (rear + front)``, scaled by ``shape_scale`` and capped; each height
  counted at most ``shape_height_cap`` times the animal's back height, so a tether, cable or
  headstage rising from the head does not make the head the heavier end) — except in a
  frame where the animal rears: its head is then the raised end, so the shape evidence turns
  round where the upper quartile of the animal's heights stands more than ``rearing_ratio``
  times its back height measured before the extraction (blended over 0.1 on either side);
- transitions: turning round between two frames costs ``switch_cost`` nats when the body axis
  did not move, less when it turned (the two readings of a turn of ``d`` radians differ by
  ``switch_cost * cos(d)``), and less over frames where the animal was not found;
- continuity across chunks: the decision of the last frame of a chunk is carried into the next,
  and each chunk is decoded together with the ``lookahead`` frames that follow it (the session
  passes them), so the frames at a chunk's end are decided with future evidence too. Memory is
  bounded by the chunk; every decision is made once;
- confidence: the forward-backward posterior probability of the chosen orientation, saved as
  ``/metadata/extraction/flip_confidence``.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..arguments import checked
from .base import FlipContext, FlipCorrector, FlipDecision

__all__ = ["MotionFlipCorrector", "flip_corrector_of", "upper_quartile_heights"]

#: Half-width of the band of height ratios over which the shape evidence turns round.
_REARING_BLEND = 0.1


def upper_quartile_heights(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The 75th percentile of each frame's heights on its mask, to the whole millimetre.

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, rows, cols)
        Heights, mm.
    masks : numpy.ndarray, shape (n, rows, cols)
        bool, the animal's pixels.

    Returns
    -------
    numpy.ndarray, shape (n,)
        float64 mm; 0 for a frame with an empty mask. Counted per whole millimetre (a histogram
        per frame) rather than sorted: a few milliseconds for a chunk of 1,000 crops.
    """
    masks = np.asarray(masks, dtype=bool)
    count = masks.reshape(masks.shape[0], -1).sum(axis=1)
    values = np.clip(np.rint(np.asarray(frames)[masks]), 0, None).astype(np.int64)
    bins = int(values.max()) + 1 if values.size else 1
    owner = np.repeat(np.arange(masks.shape[0]), count)
    histogram = np.bincount(owner * bins + values, minlength=masks.shape[0] * bins)
    cumulative = np.cumsum(histogram.reshape(masks.shape[0], bins), axis=1)
    quartile = (cumulative < np.ceil(0.75 * count)[:, None]).sum(axis=1).astype(np.float64)
    quartile[count == 0] = 0.0
    return quartile


class MotionFlipCorrector(FlipCorrector):
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
    shape_height_cap : float or None, default 1
        In the shape evidence, each height counts at most this many times the animal's
        measured back height (:attr:`FlipContext.animal_height_mm`); None counts every height
        (as does a session whose back height was not measured). What rises above the back
        is seldom the rear: a tether, cable or headstage at the head would otherwise make the
        head the heavier end. On the accuracy benchmark's 200 drawn sessions (``animal:
        auto``), heading right in 99.80% of visible frames with the cap against 98.84%
        without; no session was worse.
    rearing_ratio : float, default 1.25
        Upper quartile of a frame's animal heights over the animal's measured back height
        (:attr:`FlipContext.animal_height_mm`) at which the frame counts as reared and its
        shape evidence turns round: full for the rear-taller reading at ``rearing_ratio - 0.1``
        and below, full the other way at ``rearing_ratio + 0.1`` and above. A walking mouse is
        at about 1.0-1.15 (the back height is itself an upper quartile); rearing raises it to
        1.4 and more. No effect when the back height was not measured.

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
        rearing_ratio: float = 1.25,
        shape_height_cap: float | None = 1.0,
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
        if not float(rearing_ratio) > 0:
            raise ValueError(f"rearing_ratio must be > 0, got {rearing_ratio}")
        if shape_height_cap is not None and not float(shape_height_cap) > 0:
            raise ValueError(f"shape_height_cap must be > 0 or None, got {shape_height_cap}")
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
        self.rearing_ratio = float(rearing_ratio)
        self.shape_height_cap = None if shape_height_cap is None else float(shape_height_cap)
        self.reset()

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
        masks = _concat(context, "masks")
        frames = _concat(context, "frames") * masks
        # The posture reads the heights as they are; the asymmetry then caps them in place.
        posture = self._posture(frames, masks, context.animal_height_mm)
        asymmetry = self._capped_asymmetry(frames, context.animal_height_mm)
        shape = self.shape_weight * np.clip(asymmetry / self.shape_scale, -1.0, 1.0) * posture
        found = _concat(context, "valid")
        return np.where(found, motion + shape, 0.0)

    def _capped_asymmetry(self, frames: np.ndarray, back_height_mm: float | None) -> np.ndarray:
        """Per frame, ``(rear - front) / (rear + front)`` of the height mass, each height
        counted at most ``shape_height_cap`` times the back height; ``frames`` (a scratch copy)
        is capped in place."""
        middle = frames.shape[2] // 2
        # Whole millimetres add up exactly, and faster, in integers (8-bit heights in 32 bits
        # for crops of up to 16 million pixels).
        total = {"u1": np.uint32, "u2": np.uint64}.get(frames.dtype.str[1:])
        whole_mm = total is not None
        total = total or np.float64

        def halves() -> tuple[np.ndarray, np.ndarray]:
            # Height mass behind the centroid (west, when the angle points at the nose) and in
            # front of it; the centre column belongs to neither.
            return (
                frames[:, :, :middle].sum(axis=(1, 2), dtype=total).astype(np.float64),
                frames[:, :, middle + 1 :].sum(axis=(1, 2), dtype=total).astype(np.float64),
            )

        limit = None
        if self.shape_height_cap is not None and back_height_mm and back_height_mm > 0:
            limit = self.shape_height_cap * float(back_height_mm)
        if limit is None or (whole_mm and limit >= np.iinfo(frames.dtype).max):
            rear, front = halves()
        elif whole_mm:
            # Whole millimetres, capped in place (a float copy of a chunk's crops is tens of
            # megabytes of fresh memory): min(h, limit) is min(h, floor) plus the fraction for
            # every pixel above floor, counted as the mass min(h, floor + 1) adds.
            whole = math.floor(limit)
            # OpenCV's minimum: numpy's with a scalar is twenty times slower on a chunk.
            frames = np.ascontiguousarray(frames)  # so that the rows below are a view of it
            rows = frames.reshape(-1, frames.shape[2])
            cv2.min(rows, whole + 1, dst=rows)
            above = halves()
            cv2.min(rows, whole, dst=rows)
            capped = halves()
            fraction = limit - whole
            rear, front = (c + fraction * (a - c) for a, c in zip(above, capped, strict=True))
        else:
            np.minimum(frames, limit, out=frames)
            rear, front = halves()
        total_mass = rear + front
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total_mass > 0, (rear - front) / total_mass, 0.0)

    def _posture(
        self, frames: np.ndarray, masks: np.ndarray, back_height_mm: float | None
    ) -> np.ndarray | float:
        """Per frame, +1 where the rear is the taller end, -1 where the animal rears."""
        if not back_height_mm or back_height_mm <= 0:
            return 1.0
        ratio = upper_quartile_heights(frames, masks) / back_height_mm
        return np.clip((self.rearing_ratio - ratio) / _REARING_BLEND, -1.0, 1.0)

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
        stay, switch, initial = self._transitions(start, frames, angle)
        # Plain floats: the recursions below run per frame, where numpy scalars are slow.
        emit = (0.5 * evidence[frames]).tolist()
        path = _viterbi(stay, switch, emit, initial)
        states[frames] = np.frombuffer(bytes(path), dtype=np.int8)
        posterior[frames] = _flip_posterior(stay, switch, emit, initial)
        return states, posterior

    def _transitions(
        self, start: int, frames: np.ndarray, angle: np.ndarray
    ) -> tuple[list[float], list[float], tuple[float, float]]:
        """Log-probabilities of staying / switching into each frame with the animal.

        Each from the previous frame with the animal (the first one from the frame carried
        over from the last chunk); and the initial scores of keep and flip: from the carried
        state, or even odds at the session's start.
        """
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
        stay = log_stay.tolist()
        switch = log_switch.tolist()
        if has_prior:
            keep0 = stay[0] if prior_state == 0 else switch[0]
            flip0 = switch[0] if prior_state == 0 else stay[0]
        else:
            keep0 = flip0 = 0.0
        return stay, switch, (keep0, flip0)


def _viterbi(
    stay: list[float], switch: list[float], emit: list[float], initial: tuple[float, float]
) -> bytearray:
    """The most probable sequence of states (0 keep, 1 flip), one byte per frame."""
    m = len(emit)
    keep0, flip0 = initial
    v0, v1 = keep0 + emit[0], flip0 - emit[0]
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
        v0, v1 = n0 + emit[t], n1 - emit[t]
    path = bytearray(m)
    state = 0 if v0 >= v1 else 1
    for t in range(m - 1, -1, -1):
        path[t] = state
        state = back[2 * t + state] if t > 0 else state
    return path


def _flip_posterior(
    stay: list[float], switch: list[float], emit: list[float], initial: tuple[float, float]
) -> np.ndarray:
    """Posterior probability of the flip state per frame (forward-backward)."""
    m = len(emit)
    alpha = np.empty((m, 2))
    f0, f1 = initial[0] + emit[0], initial[1] - emit[0]
    alpha[0] = f0, f1
    for t in range(1, m):
        f0, f1 = (
            _logaddexp(f0 + stay[t], f1 + switch[t]) + emit[t],
            _logaddexp(f1 + stay[t], f0 + switch[t]) - emit[t],
        )
        alpha[t] = f0, f1
    beta = np.zeros((m, 2))
    b0 = b1 = 0.0
    for t in range(m - 1, 0, -1):
        g0, g1 = b0 + emit[t], b1 - emit[t]
        b0, b1 = (
            _logaddexp(stay[t] + g0, switch[t] + g1),
            _logaddexp(stay[t] + g1, switch[t] + g0),
        )
        beta[t - 1] = b0, b1
    joint = alpha + beta
    return 1.0 / (1.0 + np.exp(np.clip(joint[:, 0] - joint[:, 1], -700, 700)))


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


def flip_corrector_of(value: Any) -> FlipCorrector | None:
    """The flip corrector a ``flip_corrector`` argument names.

    Parameters
    ----------
    value : FlipCorrector, "motion" or None
        A corrector; ``"motion"`` for a new :class:`MotionFlipCorrector` (a new one per
        session: the corrector follows the session it corrects); None for none.

    Returns
    -------
    FlipCorrector or None

    Raises
    ------
    ValueError
        If ``value`` is another string.
    TypeError
        If ``value`` is not a :class:`FlipCorrector`.
    """
    if isinstance(value, str):
        if value != "motion":
            raise ValueError(
                f"flip_corrector must be a FlipCorrector, 'motion' or None, got {value!r}"
            )
        return MotionFlipCorrector()
    if value is None:
        return None
    return checked(value, FlipCorrector, "flip_corrector")
