"""The commands on extraction results: ``export-nwb``, ``report`` and ``train-flip-classifier``."""

from __future__ import annotations

from pathlib import Path

import click

from .options import existing
from .terminal import InputError, debug_option


def _results(path: Path):
    from ..io import read_results

    existing(path, "results")
    return read_results(path)


@click.command(name="export-nwb")
@click.argument("results_path", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="NWB file to write  [default: results_00.nwb beside results_00.h5]",
)  # fmt: skip
@click.option(
    "--subject-id", default=None,
    help="Subject identifier  [default: SubjectName of metadata.json]",
)  # fmt: skip
@click.option("--species", default="Mus musculus", show_default=True, help="Subject species")
@click.option("--age", default=None, help="Subject age, ISO 8601 duration (e.g. P90D)")
@click.option("--sex", type=click.Choice(["M", "F", "U", "O"]), default="U", show_default=True)
@click.option("--experimenter", default=None, help="Experimenter name")
@click.option("--lab", default=None)
@click.option("--institution", default=None)
@click.option(
    "--session-start-time", default=None,
    help="When the recording started, ISO 8601 with a time zone (e.g. "
    "2024-05-01T10:30:00+02:00)  [default: the recording's own, from metadata.json or the file]",
)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing NWB file.")
@debug_option
def export_nwb(
    results_path: Path, output_file: Path | None, subject_id: str | None, species: str,
    age: str | None, sex: str, experimenter: str | None, lab: str | None,
    institution: str | None, session_start_time: str | None, overwrite: bool,
) -> None:  # fmt: skip
    """Write extraction results (results_00.h5 or its directory) as an NWB file."""
    results = _results(results_path)
    output = output_file or Path(results.path).with_suffix(".nwb")
    subject = {"species": species, "sex": sex}
    if age:
        subject["age"] = age
    if subject_id:
        subject["subject_id"] = subject_id
    with _holding(Path(results.path).parent, "NWB export"):
        written = results.to_nwb(
            output, subject=subject, experimenter=experimenter, lab=lab,
            institution=institution, session_start_time=session_start_time, overwrite=overwrite,
        )  # fmt: skip
    click.echo(f"wrote {written}")


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
