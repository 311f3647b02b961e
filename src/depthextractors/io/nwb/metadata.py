"""The NWB file's session and subject metadata, NeuroConv-style: ``{"NWBFile": {...},
"Subject": {...}}`` from a YAML file, keyword arguments or command-line options, completed from
the recording, and checked against what DANDI requires before anything is written.

A metadata YAML file (``export-nwb --metadata lab.yaml``)::

    NWBFile:
      experiment_description: Open-field exploration, MoSeq depth imaging
      experimenter: [Doe, Jane, Roe, Richard]
      keywords: [MoSeq, open field]
      lab: Datta
      institution: Harvard Medical School
    Subject:
      species: Mus musculus
      strain: C57BL/6J
      genotype: wild type
      sex: M
      age: P12W

Later layers win: the recording's own values (``metadata.json``), then the YAML file, then
keyword arguments / options.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["IncompleteMetadataError", "dandi_problems", "load_metadata", "merge_metadata"]

#: NWBFile fields the metadata may set (the rest are the export's own).
NWBFILE_FIELDS = (
    "session_description", "identifier", "session_start_time", "session_id",
    "experiment_description", "experimenter", "keywords", "lab", "institution",
    "related_publications", "notes", "protocol", "pharmacology", "surgery", "virus",
    "stimulus_notes", "data_collection",
)  # fmt: skip
#: Subject fields the metadata may set.
SUBJECT_FIELDS = (
    "subject_id", "species", "sex", "age", "date_of_birth", "strain", "genotype",
    "description", "weight",
)  # fmt: skip
_LIST_FIELDS = ("experimenter", "keywords", "related_publications")
_SECTIONS = {"NWBFile": NWBFILE_FIELDS, "Subject": SUBJECT_FIELDS}

#: The ``export-nwb`` option of each field (for messages).
CLI_OPTIONS = {
    ("Subject", "subject_id"): "--subject-id",
    ("Subject", "species"): "--species",
    ("Subject", "sex"): "--sex",
    ("Subject", "age"): "--age",
    ("Subject", "date_of_birth"): "--date-of-birth",
    ("NWBFile", "session_id"): "--session-id",
    ("NWBFile", "session_start_time"): "--session-start-time",
}

# ISO 8601 durations, and DANDI's ranges of them ("P8W/P15W", "P90D/").
_DURATION = (
    r"P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
    r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?"
)
_AGE = re.compile(rf"{_DURATION}|({_DURATION})?/({_DURATION})?")
# A Latin binomial (Mus musculus) or an NCBI taxonomy IRI, as DANDI requires.
_SPECIES = re.compile(
    r"[A-Z][a-z]* [a-z]+( [a-z]+)?|http://purl\.obolibrary\.org/obo/NCBITaxon_\d+"
)
_SEXES = ("M", "F", "U", "O")


class IncompleteMetadataError(ValueError):
    """The session or subject lacks a field DANDI requires (or has it in the wrong form)."""


def load_metadata(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a NeuroConv-style metadata YAML file (``NWBFile:`` and ``Subject:`` sections).

    Parameters
    ----------
    path : path-like
        The YAML file.

    Returns
    -------
    dict
        ``{"NWBFile": {...}, "Subject": {...}}`` with the fields given.

    Raises
    ------
    ValueError
        If the file is not such a mapping or names a section or field NWB does not have.
    """
    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"metadata file {path} cannot be read as YAML ({error})") from None
    return checked_metadata(loaded if loaded is not None else {}, f"metadata file {path}")


def checked_metadata(metadata: Any, source: str = "metadata") -> dict[str, dict[str, Any]]:
    """``metadata`` as ``{"NWBFile": {...}, "Subject": {...}}``, every key checked."""
    if not isinstance(metadata, Mapping):
        raise ValueError(f"{source} must be a mapping with NWBFile: and Subject: sections")
    checked: dict[str, dict[str, Any]] = {"NWBFile": {}, "Subject": {}}
    for section, fields in metadata.items():
        if section not in _SECTIONS:
            raise ValueError(
                f"{source} has a section {section!r}; the sections are NWBFile and Subject"
            )
        if not isinstance(fields, Mapping):
            raise ValueError(f"{source}: {section} must be a mapping of field: value")
        for key, value in fields.items():
            if key not in _SECTIONS[section]:
                raise ValueError(
                    f"{source}: {section}.{key} is not a field this export sets; {section} "
                    f"fields: {', '.join(_SECTIONS[section])}"
                )
            if value is not None:
                checked[section][key] = _normalised(section, key, value)
    return checked


def _normalised(section: str, key: str, value: Any) -> Any:
    """YAML and option values in the types pynwb takes."""
    if key in _LIST_FIELDS:
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    if key in ("session_start_time", "date_of_birth"):
        return _datetime(value, f"{section}.{key}")
    if key == "weight" and isinstance(value, (int, float)):
        return float(value)
    return str(value)


def _datetime(value: Any, name: str) -> datetime:
    """An ISO 8601 string, a date or a datetime as a datetime with a time zone: a session start
    must have one; a date of birth without one is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(
                f"{name} {value!r} is not an ISO 8601 date and time (e.g. "
                "2024-05-01T10:30:00+02:00)"
            )
    if parsed.tzinfo is not None:
        return parsed
    if name.endswith("session_start_time"):
        raise ValueError(
            f"{name} {value!r} has no time zone; add one (e.g. 2024-05-01T10:30:00+02:00, or Z "
            "for UTC)"
        )
    return parsed.replace(tzinfo=timezone.utc)


_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date and time (e.g. metadata.json's ``2017-01-25T10:42:07.1734698-05:00``),
    or None when it is not one."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    # .NET writes 7 fractional digits and Python before 3.11 reads at most 6, nor "Z".
    text = _ISO_FRACTION.sub(r"\1", text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def merge_metadata(*layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The sections of ``layers`` merged field by field; later layers win, None is no value."""
    merged: dict[str, dict[str, Any]] = {"NWBFile": {}, "Subject": {}}
    for layer in layers:
        for section, fields in (layer or {}).items():
            merged.setdefault(section, {}).update(
                {key: value for key, value in fields.items() if value is not None}
            )
    return merged


def _where(section: str, key: str) -> str:
    """The option and the metadata key that give a field: ``--age / Subject.age``."""
    option = CLI_OPTIONS.get((section, key))
    return f"{option} / {section}.{key}" if option else f"{section}.{key}"


def dandi_problems(metadata: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What keeps ``metadata`` from passing DANDI's checks (NWB Inspector's CRITICAL ones), each
    naming the ``export-nwb`` option and the metadata key (``Section.field`` of the YAML file or
    dict) that give it; empty when nothing does.

    Parameters
    ----------
    metadata : mapping
        ``{"NWBFile": {...}, "Subject": {...}}`` as the file will have them.

    Returns
    -------
    list of str
    """
    subject = metadata.get("Subject", {})
    problems = []
    subject_id = subject.get("subject_id")
    if not subject_id:
        problems.append(f"no subject id ({_where('Subject', 'subject_id')})")
    elif "/" in str(subject_id):
        problems.append(f"subject id {subject_id!r} has a '/' ({_where('Subject', 'subject_id')})")
    species = subject.get("species")
    if not species:
        problems.append(f"no subject species ({_where('Subject', 'species')}, e.g. 'Mus musculus')")
    elif not _SPECIES.fullmatch(str(species)):
        problems.append(
            f"species {species!r} is neither a Latin binomial ('Mus musculus') nor an NCBI "
            f"taxonomy link ({_where('Subject', 'species')})"
        )
    sex = subject.get("sex")
    if sex not in _SEXES:
        problems.append(
            f"subject sex {sex!r} is not one of M, F, U (unknown), O (other) "
            f"({_where('Subject', 'sex')})"
        )
    age = subject.get("age")
    if not age and not subject.get("date_of_birth"):
        problems.append(
            f"no subject age ({_where('Subject', 'age')}: an ISO 8601 duration such as P12W, "
            f"or a range P8W/P15W; or {_where('Subject', 'date_of_birth')})"
        )
    elif age and not _AGE.fullmatch(str(age)):
        problems.append(
            f"subject age {age!r} is not an ISO 8601 duration such as P12W, P90D or a range "
            f"P8W/P15W ({_where('Subject', 'age')})"
        )
    session_id = metadata.get("NWBFile", {}).get("session_id")
    if session_id and "/" in str(session_id):
        problems.append(f"session id {session_id!r} has a '/' ({_where('NWBFile', 'session_id')})")
    return problems
