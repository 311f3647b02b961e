"""Getting a file ready for DANDI: NWB Inspector's checks under DANDI's configuration, and the
file name ``dandi organize`` gives a session."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DandiInspection", "dandi_file_name", "inspect_for_dandi"]

# What `dandi organize` replaces by "-" in subject and session ids ("_" separates its fields).
_UNSAFE = re.compile(r"[_*\\/<>:|\"'?%@;,\s.]")


@dataclass
class DandiInspection:
    """NWB Inspector's messages on a file under DANDI's configuration.

    Attributes
    ----------
    messages : list
        ``nwbinspector.InspectorMessage`` objects, most important first.
    counts : dict
        Number of messages by importance name (``CRITICAL``, ``BEST_PRACTICE_VIOLATION``,
        ``BEST_PRACTICE_SUGGESTION``).
    """

    messages: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        """Whether nothing is CRITICAL (what ``dandi validate`` requires of the file)."""
        return self.counts.get("CRITICAL", 0) == 0

    def lines(self) -> list[str]:
        """One line per message: ``IMPORTANCE location: message``."""
        return [f"{m.importance.name} {m.location or '/'}: {m.message}" for m in self.messages]


def inspect_for_dandi(path: str | os.PathLike) -> DandiInspection:
    """Run NWB Inspector with DANDI's configuration (as ``dandi validate`` does) on a file.

    Parameters
    ----------
    path : path-like
        The ``.nwb`` file to check.

    Returns
    -------
    DandiInspection
        The messages, most important first, and their counts.

    """
    from nwbinspector import inspect_nwbfile, load_config  # a dependency: on use, it is slow
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    messages.sort(key=lambda m: -m.importance.value)
    counts: dict[str, int] = {}
    for message in messages:
        counts[message.importance.name] = counts.get(message.importance.name, 0) + 1
    return DandiInspection(messages, counts)


def dandi_file_name(
    subject_id: str, session_id: str | None = None, modalities: tuple[str, ...] = ("behavior",)
) -> str:
    """The file name ``dandi organize`` gives a session when its subject has several.

    ``sub-<subject>_ses-<session>_<modalities>.nwb``, ids sanitised as ``dandi organize`` does
    (``_``, ``/``, ``.``, spaces... become ``-``). ``dandi organize`` leaves out the session
    when a subject has one file in the set it organises; with it, the sessions of a subject
    never collide.

    Parameters
    ----------
    subject_id : str
        ``Subject.subject_id``.
    session_id : str, optional
        ``NWBFile.session_id``.
    modalities : tuple of str
        What the file holds, in DANDI's words: ``behavior``, and ``image`` for image series.

    Returns
    -------
    str
    """
    name = f"sub-{_UNSAFE.sub('-', str(subject_id))}"
    if session_id:
        name += f"_ses-{_UNSAFE.sub('-', str(session_id))}"
    return f"{name}_{'+'.join(sorted(modalities))}.nwb"


def dandi_path(fields: Mapping[str, Mapping[str, Any]], has_images: bool) -> Path:
    """``sub-<subject>/<dandi_file_name>`` of a file with these session and subject fields."""
    subject_id = str(fields["Subject"].get("subject_id") or "unknown")
    modalities = ("behavior", "image") if has_images else ("behavior",)
    name = dandi_file_name(subject_id, fields["NWBFile"].get("session_id"), modalities)
    return Path(f"sub-{_UNSAFE.sub('-', subject_id)}") / name
