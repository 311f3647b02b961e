"""Timestamp files (``depth_ts.txt``, ``<stem>_ts.txt``): read, checked against the frames and
repaired line by line.

moseq acquisition writes one line per frame with the device time in milliseconds in the first
column. Raw files, FFV1 videos and session archives read their timestamp file here, with one set
of checks. Damage stays local: a line that holds no number, or a time out of order with the
lines around it, is interpolated from its neighbours (or dropped, when the file has exactly
that many lines too many) and counted in a warning; only a file that does not match the frames
at all (too few lines, or more than a tenth of them unusable) is left unused, with a warning
that says frame times will be made up from the frame rate.
"""

from __future__ import annotations

import bisect
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .sidecar import decode_text

__all__ = [
    "TIMES_FROM_RATE",
    "TimestampColumn",
    "check_timestamps",
    "load_timestamps",
    "parse_timestamp_lines",
    "read_timestamp_bytes",
    "read_timestamp_file",
]

#: What a session falls back on when its timestamp file is unusable (for the warnings).
TIMES_FROM_RATE = "frame times will be made up from the frame rate (frame / rate)"
# More unusable lines than this fraction of the frames make the file unusable as a whole:
# beyond it the times would be more made up than read.
_MAX_REPAIRED_FRACTION = 0.1
# Unusable lines named in a warning (the count covers all of them).
_LINES_NAMED = 3


@dataclass(frozen=True)
class TimestampColumn:
    """One column of a timestamp file, line by line.

    Attributes
    ----------
    values : numpy.ndarray
        float64 value of each non-empty line, in the file's unit (ms for ``depth_ts.txt``);
        NaN where the line holds no number in the column.
    line_numbers : numpy.ndarray
        int64 line number (from 1) of each value.
    texts : dict
        Line number to the line's text, for the lines that hold no number.
    """

    values: np.ndarray
    line_numbers: np.ndarray
    texts: dict[int, str]

    def take(self, keep: np.ndarray) -> TimestampColumn:
        """The values (and their line numbers) where ``keep`` is true, or at indices ``keep``."""
        return TimestampColumn(self.values[keep], self.line_numbers[keep], self.texts)


def parse_timestamp_lines(lines: Any, column: int = 0) -> TimestampColumn:
    """The values in ``column`` of the lines of a timestamp file; NaN for a line with none.

    Parameters
    ----------
    lines : iterable of str
        The file's lines. Columns may be separated by spaces, tabs or commas; empty lines are
        skipped.
    column : int, default 0
        Column to read.

    Returns
    -------
    TimestampColumn
    """
    values: list[float] = []
    numbers: list[int] = []
    texts: dict[int, str] = {}
    for line_number, line in enumerate(lines, start=1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        try:
            value = float(fields[column])
        except (IndexError, ValueError):
            value = np.nan
            texts[line_number] = line.strip()
        values.append(value)
        numbers.append(line_number)
    return TimestampColumn(
        np.asarray(values, dtype=np.float64), np.asarray(numbers, dtype=np.int64), texts
    )


def _lines_of(data: bytes) -> io.StringIO:
    # Read as a text file reads (universal newlines), so line numbers in messages agree.
    return io.StringIO(decode_text(data), newline=None)


def read_timestamp_file(path: str | os.PathLike, column: int = 0) -> np.ndarray:
    """Read a moseq timestamp file (``depth_ts.txt``): one frame per line, values in columns.

    Columns may be separated by spaces, tabs or commas. moseq acquisition writes the device
    time in milliseconds in the first column. UTF-8 (with or without a byte-order mark) and
    UTF-16 files are read.

    Parameters
    ----------
    path : path-like
        The timestamp file.
    column : int, default 0
        Column to read.

    Returns
    -------
    numpy.ndarray
        float64 values of that column, one per non-empty line, in the file's unit (ms for
        ``depth_ts.txt``).

    Raises
    ------
    ValueError
        If a line lacks the column or holds a value that is not a number; the message names the
        line. (Extractors reading a session repair such lines instead, see
        :func:`check_timestamps`.)
    """
    parsed = parse_timestamp_lines(_lines_of(Path(path).read_bytes()), column)
    if parsed.texts:
        line_number, text = next(iter(parsed.texts.items()))
        raise ValueError(f"{path}: line {line_number} has no number in column {column}: {text!r}")
    return parsed.values


def read_timestamp_bytes(data: bytes) -> TimestampColumn:
    """The first column of a timestamp file's contents (bytes, UTF-8 or UTF-16), line by line.

    Parameters
    ----------
    data : bytes
        The file's contents.

    Returns
    -------
    TimestampColumn
        Not yet checked against the frames (:func:`check_timestamps` does).
    """
    return parse_timestamp_lines(_lines_of(data))


def load_timestamps(
    path: Path | None, num_frames: int, recording: Any, fallback: str, stacklevel: int = 2
) -> np.ndarray | None:
    """Frame times in seconds from the timestamp file at ``path``, read, checked and repaired.

    Parameters
    ----------
    path : pathlib.Path or None
        The timestamp file (milliseconds in the first column); None gives None.
    num_frames, recording, fallback, stacklevel
        As for :func:`check_timestamps`; a file that cannot be read is warned about too.

    Returns
    -------
    numpy.ndarray or None
        ``(num_frames,)`` float64 seconds.
    """
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        warnings.warn(f"could not read timestamps ({error}); {fallback}", stacklevel=stacklevel + 1)
        return None
    column = read_timestamp_bytes(data)
    return check_timestamps(column, num_frames, path, recording, fallback, stacklevel + 1)


def check_timestamps(
    column: TimestampColumn,
    num_frames: int,
    source: Any,
    recording: Any,
    fallback: str,
    stacklevel: int = 2,
) -> np.ndarray | None:
    """Frame times in seconds from a timestamp file, repaired line by line, or None if unusable.

    A line is unusable when it holds no (finite) number, or when its time is out of order:
    not part of the longest run of the file's times that never goes backwards (so a single
    glitch costs its own line, not the ones around it). Unusable lines are interpolated from
    the times beside them, or dropped when the file has exactly as many lines too many; either
    way a warning counts them and names the first few.

    Parameters
    ----------
    column : TimestampColumn
        The file's first column, milliseconds (:func:`read_timestamp_bytes`).
    num_frames : int
        Frames of the recording. Extra lines are cut off (with a warning); too few lines, or
        more than a tenth of them unusable, make the file unusable.
    source, recording : object
        What the timestamp file and the recording are called in messages.
    fallback : str
        Where frame times come from instead, for the messages (:data:`TIMES_FROM_RATE`).
    stacklevel : int, default 2
        As the caller would pass it to :func:`warnings.warn`.

    Returns
    -------
    numpy.ndarray or None
        ``(num_frames,)`` float64 seconds.
    """
    count = column.values.size
    unusable = _unusable(column.values)
    if count > num_frames:
        if count - int(unusable.sum()) == num_frames:
            _warn(stacklevel, f"{source} has {count} lines for the {num_frames} frames of "
                  f"{recording}; the {count - num_frames} that hold no usable time "
                  f"({_name_lines(column, unusable)}) were dropped")  # fmt: skip
            column = column.take(~unusable)
        else:
            _warn(stacklevel, f"{source} has {count} timestamps but {recording} has "
                  f"{num_frames} frames; the first {num_frames} timestamps are used")  # fmt: skip
            column = column.take(slice(0, num_frames))
        unusable = _unusable(column.values)
    elif count < num_frames:
        _warn(stacklevel, f"{source} has {count} timestamps but {recording} has {num_frames} "
              f"frames; {fallback}")  # fmt: skip
        return None
    bad = int(unusable.sum())
    if not bad:
        return column.values / 1000.0
    named = _name_lines(column, unusable)
    if bad > max(1, int(_MAX_REPAIRED_FRACTION * num_frames)) or num_frames - bad < 2:
        _warn(stacklevel, f"{source}: {bad} of its {num_frames} timestamps are unusable "
              f"({named}), too many to repair; {fallback}")  # fmt: skip
        return None
    _warn(stacklevel, f"{source}: {bad} of its {num_frames} timestamps were unusable ({named}) "
          "and were interpolated from the times beside them")  # fmt: skip
    return _interpolate(column.values, unusable) / 1000.0


def _warn(stacklevel: int, message: str) -> None:
    # stacklevel counts from check_timestamps' caller; this helper adds one frame.
    warnings.warn(message, stacklevel=stacklevel + 2)


def _unusable(values: np.ndarray) -> np.ndarray:
    """Values that are not finite, or out of order (outside a longest non-decreasing run).

    Several runs may be longest (``1000, 900, 1066``: is 1000 too late or 900 too early?); of
    the two found scanning forwards and backwards, the one whose steps are closer to the
    typical step is kept, the earlier values on a tie.
    """
    finite = np.isfinite(values)
    index = np.flatnonzero(finite)
    ordered = values[index]
    if ordered.size < 2 or np.all(np.diff(ordered) >= 0):
        return ~finite
    forwards = _longest_ordered_run(ordered)
    # Backwards over the negated values: also a non-decreasing run, found from the other end.
    backwards = _longest_ordered_run(-ordered[::-1])[::-1]
    step = float(np.median(np.diff(ordered)))
    kept = min((backwards, forwards), key=lambda run: _irregularity(ordered, run, step))
    unusable = ~finite
    unusable[index[~kept]] = True
    return unusable


def _longest_ordered_run(values: np.ndarray) -> np.ndarray:
    """Mask of a longest non-decreasing subsequence of ``values`` (patience sorting)."""
    tails: list[float] = []
    tail_positions: list[int] = []
    previous = np.full(values.size, -1, dtype=np.int64)
    for position, value in enumerate(values.tolist()):
        rank = bisect.bisect_right(tails, value)
        if rank:
            previous[position] = tail_positions[rank - 1]
        if rank == len(tails):
            tails.append(value)
            tail_positions.append(position)
        else:
            tails[rank] = value
            tail_positions[rank] = position
    kept = np.zeros(values.size, dtype=bool)
    position = tail_positions[-1]
    while position >= 0:
        kept[position] = True
        position = int(previous[position])
    return kept


def _irregularity(values: np.ndarray, kept: np.ndarray, step: float) -> float:
    """How far the steps between the kept values stray from ``step`` per line."""
    positions = np.flatnonzero(kept)
    steps = np.diff(values[positions]) / np.diff(positions)
    return float(np.sum(np.abs(steps - step)))


def _name_lines(column: TimestampColumn, unusable: np.ndarray) -> str:
    """``"line 4 holds no number: 'x', line 9 is out of order, ..."`` for a warning."""
    named = []
    for position in np.flatnonzero(unusable)[:_LINES_NAMED].tolist():
        line = int(column.line_numbers[position])
        if line in column.texts:
            named.append(f"line {line} holds no number: {column.texts[line]!r}")
        elif not np.isfinite(column.values[position]):
            named.append(f"line {line} is {column.values[position]}")
        else:
            named.append(f"line {line} goes backwards")
    more = int(unusable.sum()) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _interpolate(values: np.ndarray, unusable: np.ndarray) -> np.ndarray:
    """``values`` with the unusable ones replaced linearly from the usable ones beside them."""
    frames = np.arange(values.size, dtype=np.float64)
    good = np.flatnonzero(~unusable)
    repaired = np.interp(frames, good, values[good])
    # Before the first and after the last usable time, go on at the typical interval.
    step = float(np.median(np.diff(values[good]) / np.diff(good)))
    head = frames < good[0]
    repaired[head] = values[good[0]] - (good[0] - frames[head]) * step
    tail = frames > good[-1]
    repaired[tail] = values[good[-1]] + (frames[tail] - good[-1]) * step
    return repaired
