"""Find the sessions (depth recordings) under a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..session_outputs import (
    ARCHIVE_SUFFIXES,
    NOT_RECORDINGS,
    RECORDING_EXTENSIONS,
    RESULTS_H5,
    default_output_dir,
    main_recording,
    recording_suffix,
)

__all__ = ["DEFAULT_EXTENSIONS", "Session", "find_sessions"]

#: Recording file types batch-extract looks for.
DEFAULT_EXTENSIONS = RECORDING_EXTENSIONS
# Directories whose contents are outputs, never recordings.
_OUTPUT_DIR_NAMES = {"proc", "aggregate_results", "report", "__pycache__"}


@dataclass(frozen=True)
class Session:
    """One recording to extract.

    Attributes
    ----------
    name : str
        Unique, readable name (the path of its directory relative to the search root, or the
        archive's name).
    input_file : pathlib.Path
        The recording.
    output_dir : pathlib.Path
        Its results directory.
    """

    name: str
    input_file: Path
    output_dir: Path


def find_sessions(
    root: str | os.PathLike,
    extensions: tuple[str, ...] | list[str] = DEFAULT_EXTENSIONS,
    output_dir_name: str = "proc",
) -> list[Session]:
    """All recordings under ``root``, one :class:`Session` each, in a stable order.

    Rules (moseq2-extract's, with its ambiguities resolved):

    - files named ``ir.*``, ``rgb.*``, ``color.*``, ``results*`` or starting with a dot
      (unfinished writes) are never recordings (moseq2-extract never takes ``ir.*``), and
      nothing inside an output directory (``proc``, ``aggregate_results``, ...) or a
      directory holding ``results_00.h5`` is;
    - an archive ``name.tar.gz`` is a session; its results go to ``name/proc`` beside it;
    - in a directory holding one recording, it is the session and its results go to
      ``proc`` beside it; when the directory holds ``depth.dat`` and its converted
      ``depth.avi`` (or other ``depth.*``), the raw file is taken, as ``open_depth_video``
      does; other recordings of the directory each get ``<stem>/proc`` — the places
      ``extract`` gives them too (:func:`~depthextractors.session_outputs.default_output_dir`).

    Parameters
    ----------
    root : path-like
        Directory to search (recursively), or a single recording.
    extensions : sequence of str
        File endings to take (lower case, with the dot).
    output_dir_name : str, default "proc"
        Name of each session's results directory.

    Returns
    -------
    list of Session
    """
    root = Path(root)
    extensions = tuple(
        ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions
    )
    if root.is_file():
        output = default_output_dir(root).parent / output_dir_name
        return [Session(root.name, root, output)]
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    sessions: list[Session] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            d for d in subdirs if d not in _OUTPUT_DIR_NAMES and not d.startswith(".")
        )
        if RESULTS_H5 not in files:
            sessions += _sessions_in(Path(directory), root, files, extensions, output_dir_name)
    return sessions


def _sessions_in(
    here: Path, root: Path, files: list[str], extensions: tuple[str, ...], output_dir_name: str
) -> list[Session]:
    """The sessions of one directory's files: its archives, its main recording, the others."""
    sessions: list[Session] = []
    candidates = sorted(
        name for name in files
        if recording_suffix(name, extensions) and not name.lower().startswith(NOT_RECORDINGS)
    )  # fmt: skip
    archives = [n for n in candidates if recording_suffix(n, ARCHIVE_SUFFIXES)]
    plain = [n for n in candidates if n not in archives]
    relative = here.relative_to(root).as_posix()
    for name in archives:
        path = here / name
        stem = name[: -len(recording_suffix(name, ARCHIVE_SUFFIXES))]
        label = f"{relative}/{stem}" if relative != "." else stem
        sessions.append(Session(label, path, here / stem / output_dir_name))
    if not plain:
        return sessions
    main = main_recording(plain)
    label = relative if relative != "." else here.resolve().name
    if main is not None:
        sessions.append(Session(label, here / main, here / output_dir_name))
    for name in plain:
        if name == main or name.lower().startswith("depth"):
            continue  # other depth.* files are conversions of the main recording
        stem = name[: -len(recording_suffix(name, extensions))]
        sessions.append(Session(f"{label}/{stem}", here / name, here / stem / output_dir_name))
    return sessions
