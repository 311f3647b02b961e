"""Which extractor reads which file: a registry of file suffixes, and ``open_depth_video``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import DepthVideoExtractor

__all__ = ["find_depth_file", "open_depth_video", "register_extractor", "registered_formats"]


@dataclass(frozen=True)
class _Registration:
    extractor_class: type[DepthVideoExtractor]
    suffixes: tuple[str, ...]
    preference: int


_REGISTRY: list[_Registration] = []

# Files in a session directory that are never the depth recording.
_NOT_DEPTH_PREFIXES = ("ir", "rgb", "color", "results", "proc", ".")


def register_extractor(
    extractor_class: type[DepthVideoExtractor],
    suffixes: tuple[str, ...] | list[str],
    preference: int = 100,
) -> type[DepthVideoExtractor]:
    """Make :func:`open_depth_video` open files ending in ``suffixes`` with ``extractor_class``.

    Parameters
    ----------
    extractor_class : type
        A :class:`DepthVideoExtractor` subclass whose constructor takes the file path first.
    suffixes : sequence of str
        File endings, lower case with the dot (``".dat"``, ``".tar.gz"``).
    preference : int, default 100
        When a session directory holds several depth files of different formats, the lowest
        preference wins (raw ``.dat`` is 0).

    Notes
    -----
    Several classes may register the same suffix; :func:`open_depth_video` then asks each, in
    registration order, through an optional classmethod ``sniff(path) -> bool`` that looks at
    the file's contents, and falls back to the first registered.

    Returns
    -------
    type
        ``extractor_class``, so this can be used as a decorator-like call.
    """
    if not (isinstance(extractor_class, type) and issubclass(extractor_class, DepthVideoExtractor)):
        raise TypeError(f"{extractor_class!r} is not a DepthVideoExtractor subclass")
    normalized = tuple(suffix.lower() for suffix in suffixes)
    if not normalized or not all(suffix.startswith(".") for suffix in normalized):
        raise ValueError(f"suffixes must start with a dot, e.g. ('.dat',); got {suffixes!r}")
    _REGISTRY[:] = [entry for entry in _REGISTRY if entry.extractor_class is not extractor_class]
    _REGISTRY.append(_Registration(extractor_class, normalized, preference))
    return extractor_class


def registered_formats() -> dict[str, type[DepthVideoExtractor]]:
    """Map of file suffix to extractor class, as :func:`open_depth_video` uses it."""
    return {suffix: entry.extractor_class for entry in _REGISTRY for suffix in entry.suffixes}


def _match(path: Path, sniff: bool = False) -> _Registration | None:
    """The registration for ``path``'s suffix (the longest that matches, so ".tar.gz" wins
    over ".gz").

    Several classes may share a suffix (``.mkv`` holds Azure recordings and FFV1 videos): with
    ``sniff``, the first of them whose classmethod ``sniff(path) -> bool`` accepts the file's
    contents wins; otherwise, or if none accepts it, the first registered.
    """
    name = path.name.lower()
    matches: list[tuple[int, _Registration]] = []
    for entry in _REGISTRY:
        length = max((len(s) for s in entry.suffixes if name.endswith(s)), default=0)
        if length:
            matches.append((length, entry))
    if not matches:
        return None
    longest = max(length for length, _ in matches)
    candidates = [entry for length, entry in matches if length == longest]
    if sniff and len(candidates) > 1:
        for entry in candidates:
            sniffer = getattr(entry.extractor_class, "sniff", None)
            if sniffer is not None and sniffer(path):
                return entry
    return candidates[0]


def find_depth_file(directory: str | os.PathLike) -> Path:
    """Find the depth recording in a session directory.

    Files named ``ir.*``, ``rgb.*``, ``color.*`` and ``results*`` are never taken. Files whose
    name starts with ``depth`` come first; among those, the format with the lowest registered
    preference wins (``depth.dat`` before ``depth.avi``).

    Parameters
    ----------
    directory : path-like
        The session directory.

    Returns
    -------
    pathlib.Path
        The depth recording.

    Raises
    ------
    FileNotFoundError
        If the directory holds no readable depth file.
    ValueError
        If several depth files of the same format make the choice ambiguous.
    """
    directory = Path(directory)
    candidates = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.lower().startswith(_NOT_DEPTH_PREFIXES):
            continue
        entry = _match(path)
        if entry is not None:
            named_depth = path.name.lower().startswith("depth")
            candidates.append(((not named_depth, entry.preference), path))
    if not candidates:
        suffixes = sorted(registered_formats())
        raise FileNotFoundError(
            f"no depth recording in {directory}: expected a file ending in one of {suffixes} "
            "(ir.* and color files are never read as depth)"
        )
    candidates.sort(key=lambda item: item[0])
    best_rank = candidates[0][0]
    best = [path for rank, path in candidates if rank == best_rank]
    if len(best) > 1:
        raise ValueError(
            f"{directory} holds several depth recordings {[p.name for p in best]}; "
            "pass the file to open"
        )
    return best[0]


def open_depth_video(path: str | os.PathLike, **kwargs: Any) -> DepthVideoExtractor:
    """Open a depth recording with the extractor registered for its file type.

    Parameters
    ----------
    path : path-like
        A depth file (``.dat``, ``.avi``, ``.mkv``, ``.bag``, ``.tar.gz``, … as registered), or a
        session directory, in which the depth file is found by :func:`find_depth_file`.
    **kwargs
        Passed to the extractor's constructor (e.g. ``camera=``, ``frame_size=``).

    Returns
    -------
    DepthVideoExtractor
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file or directory at {path}")
    if path.is_dir():
        path = find_depth_file(path)
    entry = _match(path, sniff=True)
    if entry is None:
        raise ValueError(
            f"no extractor reads {path.name}: known file types are "
            f"{sorted(registered_formats())}; register one with register_extractor()"
        )
    return entry.extractor_class(path, **kwargs)
