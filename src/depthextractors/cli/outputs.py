"""The commands on extraction results: ``export-nwb``, ``report`` and ``train-flip-classifier``."""

from __future__ import annotations

from pathlib import Path

import click

from .options import existing
from .terminal import InputError, RunError, debug_option


def _results(path: Path):
    from ..io import read_results

    existing(path, "results")
    return read_results(path)


def _nwb_metadata_options(function):
    """The session and subject options of ``export-nwb`` (keys of its metadata YAML)."""
    options = [
        ("--session-description", {"help": "What the session was  [NWBFile.session_description]"}),
        ("--experiment-description", {"help": "The experiment  [NWBFile.experiment_description]"}),
        ("--session-id", {"help": "[NWBFile.session_id; default: SessionName of metadata.json]"}),
        ("--session-start-time", {"help": "ISO 8601 with a time zone, e.g. "
                                  "2024-05-01T10:30:00+02:00  [NWBFile.session_start_time; "
                                  "default: the recording's, from metadata.json or the file]"}),
        ("--experimenter", {"multiple": True, "help": "'Last, First'; repeat for several  "
                            "[NWBFile.experimenter]"}),
        ("--keyword", {"multiple": True, "help": "Repeat for several  [NWBFile.keywords]"}),
        ("--lab", {"help": "[NWBFile.lab]"}),
        ("--institution", {"help": "[NWBFile.institution]"}),
        ("--subject-id", {"help": "[Subject.subject_id; default: SubjectName of metadata.json]"}),
        ("--species", {"help": "Latin binomial or NCBI taxonomy link  [Subject.species; "
                       "default: Mus musculus]"}),
        ("--age", {"help": "ISO 8601 duration (P12W, P90D) or range (P8W/P15W)  [Subject.age]"}),
        ("--date-of-birth", {"help": "ISO 8601 date, instead of --age  [Subject.date_of_birth]"}),
        ("--sex", {"type": click.Choice(["M", "F", "U", "O"]), "help": "[Subject.sex; default: "
                   "U]"}),
        ("--strain", {"help": "e.g. C57BL/6J  [Subject.strain]"}),
        ("--genotype", {"help": "[Subject.genotype]"}),
        ("--subject-description", {"help": "[Subject.description]"}),
    ]  # fmt: skip
    for name, settings in reversed(options):
        function = click.option(name, default=None, **settings)(function)
    return function


def _nwb_metadata(metadata_file: Path | None, given: dict) -> dict:
    """The NWB metadata of ``export-nwb``: Mus musculus, then the YAML file, then the options."""
    from ..io.nwb import load_metadata
    from ..io.nwb.metadata import merge_metadata

    options: dict = {"NWBFile": {}, "Subject": {}}
    for key, value in given.items():
        if value is None or value == ():
            continue
        section, field = _OPTION_FIELDS.get(key, ("NWBFile", key))
        options[section][field] = list(value) if isinstance(value, tuple) else value
    from_file = None
    if metadata_file is not None:
        existing(metadata_file, "metadata file")
        from_file = load_metadata(metadata_file)
    return merge_metadata({"Subject": {"species": "Mus musculus"}}, from_file, options)


# Options whose metadata field is not the NWBFile field of their name.
_OPTION_FIELDS = {
    "keyword": ("NWBFile", "keywords"),
    "subject_description": ("Subject", "description"),
    **{key: ("Subject", key) for key in ("subject_id", "species", "age", "date_of_birth", "sex",
                                         "strain", "genotype")},
}  # fmt: skip


def _print_inspection(path: Path, allow_incomplete: bool) -> None:
    """NWB Inspector's DANDI checks of the file written, one line each, and the verdict."""
    from ..io.nwb import inspect_for_dandi

    try:
        inspection = inspect_for_dandi(path)
    except ImportError as error:
        click.echo(f"DANDI checks not run: {error}")
        return
    for line in inspection.lines():
        click.echo(f"  {line}")
        if "HeadOrientation" in line and "2pi" in line:
            click.echo("    (expected: HeadOrientation holds the unwrapped angle, as the "
                       "Datta-lab files do)")  # fmt: skip
    counts = ", ".join(f"{n} {name}" for name, n in inspection.counts.items()) or "no messages"
    if inspection.passes:
        click.echo(f"NWB Inspector (DANDI config): {counts}: no CRITICAL message, ready for "
                   "`dandi organize` and `dandi validate`")  # fmt: skip
        return
    message = f"NWB Inspector (DANDI config): {counts}: {path} will not pass `dandi validate`"
    if not allow_incomplete:
        raise RunError(message)
    click.echo(message)


@click.command(name="export-nwb")
@click.argument("results_path", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="NWB file to write  [default: results_00.nwb beside results_00.h5]",
)  # fmt: skip
@click.option(
    "--dandiset-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Write the file into this folder under the name `dandi organize` gives it "
    "(sub-<subject>/sub-<subject>_ses-<session>_behavior+image.nwb), instead of -o",
)  # fmt: skip
@click.option(
    "--metadata", "metadata_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="NeuroConv-style YAML with NWBFile: and Subject: sections; options override it",
)  # fmt: skip
@_nwb_metadata_options
@click.option(
    "--raw-video", type=click.Path(path_type=Path), default=None,
    help="Add the recording's raw depth video (the session's depth.dat / .avi / .mkv / .bag or "
    "its folder), linked losslessly as an FFV1 .avi (a recording that is not one is converted "
    "to <output name>/depth.avi beside the NWB file, verified frame by frame)",
)  # fmt: skip
@click.option(
    "--embed-raw-video", is_flag=True,
    help="Store --raw-video's extracted frames inside the NWB file (gzip) instead of linking it",
)  # fmt: skip
@click.option(
    "--allow-incomplete", is_flag=True,
    help="Write the file even if a field DANDI requires (subject age, species...) is missing",
)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing NWB file.")
@debug_option
def export_nwb(
    results_path: Path, output_file: Path | None, dandiset_dir: Path | None,
    metadata_file: Path | None, raw_video: Path | None, embed_raw_video: bool,
    allow_incomplete: bool, overwrite: bool, **metadata_options,
) -> None:  # fmt: skip
    """Write extraction results (results_00.h5 or its directory) as a DANDI-ready NWB file.

    The session and subject come from the recording (metadata.json), the --metadata YAML and
    the options, in that order; a field DANDI requires that is missing (e.g. the subject's age)
    is an error unless --allow-incomplete. The file written is checked with NWB Inspector's
    DANDI configuration and the verdict printed.
    """
    from ..io.nwb import session_metadata
    from ..io.nwb.dandi import dandi_path

    results = _results(results_path)
    metadata = _nwb_metadata(metadata_file, metadata_options)
    if dandiset_dir is not None and output_file is not None:
        raise InputError("give -o/--output-file or --dandiset-dir, not both")
    if embed_raw_video and raw_video is None:
        raise InputError("--embed-raw-video needs --raw-video RECORDING")
    fields = session_metadata(results, metadata)
    name = dandi_path(fields, has_images=True)
    if dandiset_dir is not None:
        output = dandiset_dir / name
        output.parent.mkdir(parents=True, exist_ok=True)
    else:
        output = output_file or Path(results.path).with_suffix(".nwb")
    extractor = None
    if raw_video is not None:
        from ..extractors import open_depth_video

        existing(raw_video, "raw video")
        extractor = open_depth_video(raw_video)
    with _holding(Path(results.path).parent, "NWB export"):
        written = results.to_nwb(
            output, metadata=metadata, allow_incomplete=allow_incomplete, overwrite=overwrite,
            include_raw_video=None if raw_video is None else (
                "embedded" if embed_raw_video else "external"
            ),
            extractor=extractor,
        )  # fmt: skip
    click.echo(f"wrote {written}")
    if dandiset_dir is None:
        click.echo(f"DANDI name: {name.name} (in {name.parent}/ of a dandiset; --dandiset-dir "
                   "writes it there)")  # fmt: skip
    _print_inspection(written, allow_incomplete)


def _holding(directory: Path, purpose: str):
    """The results folder's lock: no extraction replaces the results while they are read.

    A folder that cannot be written (read-only shared results) is read without it.
    """
    import contextlib

    from ..io.output_dir import OutputBusyError, OutputLock

    lock = OutputLock(directory, purpose=purpose)
    try:
        return lock.acquire()
    except OutputBusyError:
        raise
    except OSError:
        return contextlib.nullcontext()


@click.command()
@click.argument("results_path", type=click.Path(path_type=Path))
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where report.html goes  [default: beside results_00.h5]",
)  # fmt: skip
@click.option("--num-crops", type=click.IntRange(min=1, max=200), default=24, show_default=True)
@debug_option
def report(results_path: Path, output_dir: Path | None, num_crops: int) -> None:
    """Write the HTML report (with its PNG pictures) of an extraction."""
    from ..io.report import write_report

    results = _results(results_path)
    with _holding(Path(results.path).parent, "report"):
        page = write_report(results, output_dir, num_crops=num_crops)
    click.echo(f"wrote {page} (pictures in {page.parent / 'report'})")


def _read_labels(path: Path, count: int) -> list:
    """Per-session label arrays from an ``.npz`` holding one array per RESULTS, in order."""
    import zipfile

    import numpy as np

    existing(path, "labels file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise InputError(
                    f"labels file {path} is a single array; save one array per results file "
                    "with numpy.savez"
                )
            arrays = [np.asarray(archive[name]) for name in archive.files]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"labels file {path} is not a readable .npz archive ({error})") from None
    if len(arrays) != count:
        raise InputError(
            f"labels file {path} holds {len(arrays)} arrays; one per results file ({count}) is "
            "needed, in the order the results are given"
        )
    for k, array in enumerate(arrays):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise InputError(
                f"labels file {path}: array {k} must be 1-D integers (0 = nose east, 1 = west, "
                f"-1 = unknown), got {array.dtype} of shape {array.shape}"
            )
    return arrays


@click.command(name="train-flip-classifier")
@click.argument(
    "results_paths", metavar="RESULTS...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Classifier file to write (.npz; give it to extract --flip-classifier)",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An .npz with one integer array per RESULTS, in order, one value per frame: 0 = the "
    "stored crop has its nose east, 1 = west, -1 = unknown  [default: the frames the motion "
    "flip corrector was sure of]",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=0.99,
    show_default=True,
    help="Flip confidence a frame needs to be used when no labels are given",
)
@click.option(
    "--max-frames",
    type=click.IntRange(min=20),
    default=20000,
    show_default=True,
    help="At most this many labelled frames are used (seeded sample over all sessions)",
)
@click.option(
    "--feature-size",
    type=(click.IntRange(min=1), click.IntRange(min=1)),
    default=(20, 20),
    show_default=True,
    help="Crops are downsampled to ROWS COLS pixels",
)
@click.option(
    "--smoothing",
    type=click.IntRange(min=0),
    default=51,
    show_default=True,
    help="Median filter length (frames, odd) of the probabilities, saved with the classifier "
    "(flip_classifier_smoothing)",
)
@click.option(
    "--regularization",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Inverse regularisation strength C of the logistic regression",
)
@click.option(
    "--held-out-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Fraction of frames kept out of training to measure the accuracy",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of sampling and split")
@click.option("--overwrite", is_flag=True, help="Replace an existing classifier file.")
@debug_option
def train_flip_classifier(
    results_paths: tuple[Path, ...], output_file: Path, labels_file: Path | None,
    min_confidence: float, max_frames: int, feature_size: tuple[int, int], smoothing: int,
    regularization: float, held_out_fraction: float, seed: int, overwrite: bool,
) -> None:  # fmt: skip
    """Train a flip classifier from extracted sessions (results_00.h5 files or directories).

    Without --labels, the frames that the motion flip corrector of each extraction oriented
    with at least --min-confidence are taken as correctly oriented. The classifier is saved
    as a portable .npz (no pickle) with its crop size and training summary; use it with
    ``depthextractors extract --flip-classifier FILE``.
    """
    from ..extraction import train_flip_classifier as train

    if output_file.exists() and not overwrite:
        raise InputError(f"{output_file} exists; pass --overwrite to replace it")
    sources = [_results(path) for path in results_paths]
    labels = _read_labels(labels_file, len(sources)) if labels_file is not None else None
    classifier = train(
        sources, labels, min_confidence=min_confidence, max_frames=max_frames,
        feature_size=feature_size, smoothing=smoothing, regularization=regularization,
        held_out_fraction=held_out_fraction, seed=seed,
    )  # fmt: skip
    written = classifier.save(output_file)
    summary = classifier.metadata["training"]
    accuracy = summary["held_out_accuracy"]
    click.echo(f"wrote {written}")
    click.echo(f"  sessions          {len(sources)}")
    click.echo(f"  labels            {summary['labels']}")
    click.echo(f"  frames            {summary['frames']:,} ({summary['examples']:,} training "
               "examples with their 180-degree turns)")  # fmt: skip
    click.echo(
        "  held-out accuracy "
        + (f"{100 * accuracy:.2f}%" if accuracy is not None else "not measured (no held-out)")
    )
    rows, cols = classifier.crop_size
    click.echo(f"  crop size         {rows} x {cols} (sessions must be extracted with this size)")
    click.echo(f"  camera            {classifier.metadata.get('camera') or 'mixed or unknown'}")
    click.echo(f"  smoothing         {classifier.smoothing} frames")
    click.echo(f"use it: depthextractors extract RECORDING --flip-classifier {written}")
