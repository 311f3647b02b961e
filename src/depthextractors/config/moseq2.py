"""moseq2-extract 1.4.0's keys that are not extraction parameters here, and what each one does.

Every key of moseq2-extract 1.4.0's ``config.yaml`` and of its ``extract``, ``find-roi`` and
``batch-extract`` options is either a row of the parameter table
(:mod:`depthextractors.extraction.parameters`) or a :class:`Moseq2Key` here, which says what
happens to it:

- ``honoured``: the workflow uses it as moseq2-extract does (``skip_completed``,
  ``progress_bar``, ``extensions``; ``mapping`` chooses the track of an Azure ``.mkv``);
- ``ignored``: it changes nothing here. Set to moseq2-extract's default it is accepted
  quietly; set to anything else it is named, with the reason, in one warning per file;
- ``refused`` (``graduate_walls`` where it would change moseq2-extract's results): an error.

``fps`` is a row of the table (the recording's frame rate, recorded with the results); a run
whose ``fps`` is not the recording's frame rate says so (:mod:`depthextractors.workflow`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MOSEQ2_KEYS", "Moseq2Key", "ignored_settings", "known", "refusal", "run_options"]

_ANY = object()


@dataclass(frozen=True)
class Moseq2Key:
    """One moseq2-extract key without a row in the parameter table.

    Attributes
    ----------
    key : str
        The key (``--key-with-dashes`` on the command line).
    default : object
        moseq2-extract 1.4.0's default (a value the key is quiet at); ``_ANY``: always quiet.
    action : str
        ``honoured``, ``ignored`` or ``refused`` (see the module's description).
    reason : str
        What moseq2-extract did with it and what happens here, for warnings and ``--help``.
    kind : str
        Value on the command line: ``str``, ``int``, ``float``, ``bool``, ``flag``, ``choice``
        or ``none`` (config file only).
    commands : tuple of str
        Commands that take it as an option (as moseq2-extract's do).
    choices : tuple of str
        Values of a ``choice``.
    """

    key: str
    default: Any
    action: str
    reason: str
    kind: str = "str"
    commands: tuple[str, ...] = ("extract", "batch-extract")
    choices: tuple[str, ...] = ()


_SLURM = "SLURM is reached through dask-jobqueue here (docs/batch.md)"
_BATCH = ("batch-extract",)

#: Every moseq2-extract 1.4.0 key that is not a parameter of the table.
MOSEQ2_KEYS: tuple[Moseq2Key, ...] = (
    Moseq2Key("skip_completed", False, "honoured",
              "leave sessions with complete results of the same parameters alone", "none"),
    Moseq2Key("progress_bar", False, "honoured", "show progress bars", "none"),
    Moseq2Key("extensions", _ANY, "honoured", "file types batch-extract looks for", "none"),
    Moseq2Key("mapping", "DEPTH", "honoured",
              "the title of the Azure .mkv track read (moseq2's ffprobe stream)", "str"),
    Moseq2Key("output_dir", "proc", "ignored",
              "an output directory in a config file is ignored, as moseq2-extract ignores it; "
              "give --output-dir", "none"),
    Moseq2Key("input_dir", _ANY, "ignored", "ignored, as moseq2-extract ignores it", "none"),
    Moseq2Key("output_file", None, "ignored",
              "moseq2-extract's extract never used it", "str", ("extract",)),
    Moseq2Key("config_file", _ANY, "ignored", "give --config-file", "none"),
    Moseq2Key("threads", 8, "ignored",
              "moseq2-extract's ffmpeg threads; the extraction's threads are --n-jobs", "int"),
    Moseq2Key("delete", False, "ignored",
              "moseq2-extract's extract never deleted the recording either", "flag"),
    Moseq2Key("cluster_type", "local", "ignored",
              "batch-extract runs locally (--n-jobs) or on Dask (--scheduler-address)",
              "choice", choices=("local", "slurm")),
    Moseq2Key("pixel_format", "gray16le", "ignored",
              "the reader of each format knows its pixel format", "str"),
    Moseq2Key("movie_dtype", "<i2", "ignored", "the reader of each format knows its data type",
              "str"),
    Moseq2Key("recompute_bg", _ANY, "ignored",
              "the background is computed on every extraction (moseq2-extract's true; with "
              "false it reused the bground.tiff of an earlier run, the same image)", "bool",
              ("extract", "batch-extract", "find-roi")),
    Moseq2Key("graduate_walls", False, "refused",
              "moseq2-extract's wall graduation of a dilated arena's background (with "
              "dilate_iterations > 1) is not implemented", "bool"),
    Moseq2Key("widen_radius", 0, "ignored",
              "used only by graduate_walls, which is not implemented", "int"),
    Moseq2Key("prefix", "", "ignored", _SLURM, "str", _BATCH),
    Moseq2Key("ncpus", 1, "ignored", "use batch-extract --n-jobs", "int", _BATCH),
    Moseq2Key("memory", "5GB", "ignored", _SLURM, "str", _BATCH),
    Moseq2Key("wall_time", "3:00:00", "ignored", _SLURM, "str", _BATCH),
    Moseq2Key("partition", "short", "ignored", _SLURM, "str", _BATCH),
    Moseq2Key("get_cmd", _ANY, "ignored", "batch-extract runs the sessions itself", "flag", _BATCH),
    Moseq2Key("run_cmd", False, "ignored", "batch-extract runs the sessions itself", "flag",
              _BATCH),
    Moseq2Key("extract_out_script", "extract_out.sh", "ignored",
              "batch-extract runs the sessions itself", "str", _BATCH),
    Moseq2Key("skip_checks", False, "ignored",
              "sessions are found by their depth files; metadata.json is optional", "flag",
              _BATCH),
    Moseq2Key("session_config_path", None, "ignored", "pass one --config-file per batch", "none"),
    # What moseq2-extract records among a results file's parameters (results_00.yaml).
    Moseq2Key("finfo", _ANY, "ignored", "frame information is read from the recording", "none"),
    Moseq2Key("timestamps", _ANY, "ignored", "timestamps are read from the recording", "none"),
    Moseq2Key("tar", _ANY, "ignored", "archives are read in place", "none"),
)  # fmt: skip

_BY_KEY = {entry.key: entry for entry in MOSEQ2_KEYS}


def known(key: str) -> bool:
    """Whether ``key`` is one of moseq2-extract's keys listed here."""
    return key in _BY_KEY


def _quiet(entry: Moseq2Key, value: Any) -> bool:
    if entry.default is _ANY or value is None:
        return True
    if isinstance(entry.default, bool) or isinstance(value, bool):
        return bool(value) == bool(entry.default)
    return str(value).strip() == str(entry.default)


def run_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The honoured keys among ``values`` (keys as in a moseq2 ``config.yaml``).

    Parameters
    ----------
    values : mapping
        Keys and values.

    Returns
    -------
    dict
        ``skip_completed``, ``progress_bar``, ``extensions``, ``mapping`` where given (not
        None), and ``graduate_walls`` where set.
    """
    kept = {}
    for key, value in values.items():
        entry = _BY_KEY.get(key)
        if entry is None or value is None:
            continue
        if entry.action == "honoured" or (entry.action == "refused" and not _quiet(entry, value)):
            kept[key] = value  # a refused key is checked again when other values change
    return kept


def ignored_settings(values: Mapping[str, Any]) -> list[str]:
    """``key: value (reason)`` of every ignored key set to a value that would matter in moseq2.

    Parameters
    ----------
    values : mapping
        The moseq2 keys given (a configuration file's, or the command line's options).

    Returns
    -------
    list of str
        Empty when every ignored key is absent or at moseq2-extract's default.
    """
    notes = []
    for key, value in values.items():
        entry = _BY_KEY.get(key)
        if entry is None or entry.action != "ignored" or _quiet(entry, value):
            continue
        notes.append(f"{key}: {value} ({entry.reason})")
    mapping = values.get("mapping")
    if mapping is not None and not isinstance(mapping, str):
        notes.append(f"mapping: {mapping} (tracks are chosen by title here, e.g. DEPTH)")
    return notes


def refusal(values: Mapping[str, Any], dilate_iterations: int) -> str | None:
    """Why the configuration cannot be extracted as moseq2-extract would, or None.

    Parameters
    ----------
    values : mapping
        The moseq2 keys given.
    dilate_iterations : int
        The configuration's ``dilate_iterations``: moseq2-extract graduates the walls only of
        an arena dilated more than once.

    Returns
    -------
    str or None
    """
    graduate = values.get("graduate_walls")
    quiet = graduate is None or _quiet(_BY_KEY["graduate_walls"], graduate)
    if quiet or dilate_iterations <= 1:
        return None
    return (
        f"graduate_walls: true with dilate_iterations: {dilate_iterations} is not supported "
        "(moseq2-extract's wall graduation of a dilated arena's background is not "
        "implemented): set graduate_walls: false, or dilate_iterations: 1, where "
        "moseq2-extract does not graduate the walls either"
    )
