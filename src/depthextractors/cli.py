"""The ``depthextractors`` command line: moseq2-extract's commands, options and config files.

Commands: ``extract``, ``find-roi``, ``convert-raw-to-avi``, ``copy-slice``, ``generate-config``,
``generate-index``, ``aggregate-results``, ``batch-extract`` (as moseq2-extract), plus
``export-nwb``, ``report`` and ``demo``.

Extraction options are generated from :class:`depthextractors.config.ExtractionConfig`, so their
names and defaults are moseq2-extract's and cannot drift from the configuration file. Values are
taken, in order of precedence, from the command line, then ``--config-file``, then the defaults.

Errors: bad input (a missing file, an unknown file type, malformed YAML, a value out of range)
prints one line ``Error: ...`` and exits with code 2; any other failure prints one line and
exits with 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from ._version import __version__
from .config import CAMERA_TYPES, ConfigError, ConfigWarning, ExtractionConfig, option_specs

# Errors that mean "the input is wrong" (exit code 2) rather than "something failed" (1).
_BAD_INPUT = (
    ConfigError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    ValueError,
    TypeError,
)
# moseq2-extract's boolean options that are flags (present or not); the others take a value.
_FLAGS = {"use_plane_bground", "compute_raw_scalars", "manual_set_depth_range"}
_DEBUG_KEY = "depthextractors.debug"
# Every key's default as the configuration holds it (what --help shows).
_DEFAULTS = ExtractionConfig()


class InputError(click.ClickException):
    """Bad input: printed as one line, exit code 2."""

    exit_code = 2


class RunError(click.ClickException):
    """A failure while running: printed as one line, exit code 1."""

    exit_code = 1


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, KeyError):
        text = f"missing {text}"
    return text.splitlines()[0]


class _Group(click.Group):
    """Turns exceptions into one-line messages and exit codes (tracebacks with ``--debug``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                # Warnings as one line each on stderr, for this command only.
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except Exception as error:
            if ctx.meta.get(_DEBUG_KEY) or os.environ.get("DEPTHEXTRACTORS_DEBUG"):
                raise
            if isinstance(error, _BAD_INPUT):
                raise InputError(_one_line(error)) from None
            raise RunError(f"{type(error).__name__}: {_one_line(error)}") from None


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_DEBUG_KEY] = True
        logging.getLogger("depthextractors").setLevel(logging.DEBUG)


def debug_option(function):
    """``--debug``: show tracebacks and debug messages."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_debug,
        help="Show the full traceback of an error and debug messages.",
    )(function)


class _CliLogFormatter(logging.Formatter):
    """One line per message on the terminal; warnings shown as ``Warning: <message>``."""

    _warning = re.compile(r"^.*?:\d+: (?:\w+Warning): (.*)$")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name == "py.warnings":
            first = message.strip().splitlines()[0] if message.strip() else message
            match = self._warning.match(first)
            return f"Warning: {match.group(1) if match else first}"
        if record.levelno >= logging.WARNING:
            return f"Warning: {message}"
        return message


def _configure_terminal_output() -> None:
    """Show warnings and log messages as single lines on stderr (once per process)."""
    root = logging.getLogger()
    if any(getattr(h, "_depthextractors", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CliLogFormatter())
    handler.setLevel(logging.WARNING)
    handler._depthextractors = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="depthextractors")
@debug_option
def main() -> None:
    """Read depth-camera recordings and extract the animal from them (MoSeq extraction).

    Option names, defaults and config.yaml files are moseq2-extract's.
    """
    _configure_terminal_output()


# ---------------------------------------------------------------------------------- options
def _click_type(spec) -> dict[str, Any]:
    kind = spec.kind
    if kind == "bool":
        return {"type": click.BOOL}
    if kind in ("int", "int_or_none", "filter_size"):
        return {"type": int}
    if kind == "float":
        return {"type": float}
    if kind == "pair_int":
        return {"type": (int, int)}
    if kind == "pair_float":
        return {"type": (float, float)}
    if kind == "triple_float":
        return {"type": (float, float, float)}
    if kind == "choice":
        return {"type": click.Choice(spec.choices, case_sensitive=False)}
    if kind == "choice_int":
        return {"type": click.Choice(spec.choices)}
    if kind == "camera":
        return {"type": click.Choice(("k2", *CAMERA_TYPES), case_sensitive=False)}
    return {"type": str}


def _show_default(spec) -> str:
    default = _DEFAULTS[spec.key]

    def text(value: Any) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    if isinstance(default, tuple):
        return ", ".join(text(v) for v in default)
    return "none" if default is None else text(default)


def config_options(groups: tuple[str, ...]):
    """Add one option per configuration key of ``groups`` (default ``None`` = not given)."""

    def decorate(function):
        for spec in reversed(option_specs()):
            if spec.group not in groups:
                continue
            name = "--" + spec.key.replace("_", "-")
            declarations = [name] + ([spec.short] if spec.short else [])
            help_text = spec.help
            if not spec.supported:
                help_text += " (accepted; only the default is supported)"
            if spec.key in _FLAGS:
                function = click.option(
                    *declarations, spec.key, is_flag=True, default=None, help=help_text
                )(function)
                continue
            # The default is shown in moseq2's words; the option itself defaults to None, so that
            # only values given on the command line override the config file.
            function = click.option(
                *declarations,
                spec.key,
                default=None,
                help=f"{help_text}  [default: {_show_default(spec)}]",
                **_click_type(spec),
            )(function)
        return function

    return decorate


def _session_options(function):
    function = click.option(
        "--config-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="moseq2-style config.yaml; command-line options override its values.",
    )(function)
    function = click.option("--progress-bar", "-p", is_flag=True, help="Show progress bars.")(
        function
    )
    return function


def _load_config(config_file: Path | None, given: dict[str, Any]) -> ExtractionConfig:
    """Defaults, then the config file, then the options given on the command line.

    Configuration warnings (unknown keys, even filter sizes, ...) are shown as one line each.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        config = ExtractionConfig.from_yaml(config_file) if config_file else ExtractionConfig()
        explicit = {k: v for k, v in given.items() if v is not None}
        if explicit:
            config = config.updated(explicit, source="command line")
    seen = set()
    for warning in caught:
        text = str(warning.message)
        if issubclass(warning.category, ConfigWarning) and text not in seen:
            seen.add(text)
            click.echo(f"Warning: {text}", err=True)
        elif not issubclass(warning.category, ConfigWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return config


def _existing(path: Path, what: str = "input file") -> Path:
    if not Path(path).exists():
        raise InputError(f"{what} {path} does not exist")
    return Path(path)


def _open_checked(config: ExtractionConfig, path: Path):
    """Open a recording, turning 'unknown type' and 'not a recording' into one-line errors."""
    return config.open_video(_existing(path))


# ---------------------------------------------------------------------------------- extract
@main.command()
@click.argument("input_file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory for results_00.h5  [default: proc beside the recording]",
)
@_session_options
@click.option(
    "--skip-completed", is_flag=True, help="Skip the extraction if it is already complete."
)
@click.option("--no-movie", is_flag=True, help="Do not write the results_00.mp4 preview movie.")
@click.option(
    "--n-jobs",
    type=click.IntRange(min=1),
    default=min(os.cpu_count() or 1, 4),
    show_default=True,
    help="Threads of the extraction.",
)
@config_options(("roi", "extract", "workflow"))
@debug_option
def extract(
    input_file: Path,
    output_dir: Path | None,
    config_file: Path | None,
    progress_bar: bool,
    skip_completed: bool,
    no_movie: bool,
    n_jobs: int,
    **given: Any,
) -> None:
    """Extract the animal from a depth recording into results_00.h5 (moseq2 layout).

    INPUT_FILE is a depth.dat, .avi, .mkv, .bag or .tar.gz recording, or its session
    directory. Also writes the ROI/background TIFFs, the preview movie results_00.mp4, the
    report report.html and extract.log.
    """
    from .workflow import extract_session

    config = _load_config(config_file, given)
    if no_movie:
        config = config.updated({"write_movie": False})
    _open_checked(config, input_file)
    outcome = extract_session(
        input_file,
        output_dir,
        config,
        progress=progress_bar,
        skip_completed=skip_completed,
        n_jobs=n_jobs,
    )
    if outcome.status in ("skipped", "completed"):
        click.echo(f"{outcome.name}: already extracted in {outcome.output_dir} (skipped)")
    else:
        click.echo(f"{outcome.name}: {outcome.message} in {outcome.seconds:.1f} s")
    _echo_outputs(outcome)


def _echo_outputs(outcome) -> None:
    labels = {"results": "results", "movie": "movie", "report": "report", "avi": "avi"}
    for key, label in labels.items():
        if key in outcome.outputs:
            click.echo(f"  {label:<8} {outcome.outputs[key]}")
    if outcome.log_file is not None:
        click.echo(f"  {'log':<8} {outcome.log_file}")


@main.command(name="find-roi")
@click.argument("input_file", type=click.Path(path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where bground.tiff, roi.tiff and first_frame.tiff go  [default: proc beside the "
    "recording]",
)
@_session_options
@config_options(("roi",))
@debug_option
def find_roi(
    input_file: Path, output_dir: Path | None, config_file: Path | None, progress_bar: bool, **given
) -> None:
    """Find the arena (ROI) and the background of a recording, and write them as TIFFs."""
    from .io.report import roi_overlay
    from .io.results_h5 import check_writable, write_arena_images
    from .workflow import default_output_dir

    config = _load_config(config_file, given)
    video = _open_checked(config, input_file)
    output_dir = output_dir if output_dir is not None else default_output_dir(input_file)
    check_writable(output_dir)
    arena = config.build_extraction(video).find_roi()
    write_arena_images(output_dir, arena.background, arena.roi.mask, arena.first_frame)
    overlay = output_dir / "roi_overlay.png"
    import cv2

    cv2.imwrite(
        str(overlay), cv2.cvtColor(roi_overlay(arena.background, arena.roi.mask), cv2.COLOR_RGB2BGR)
    )
    rows, cols = video.get_image_size()
    depth_range = arena.roi.depth_range
    click.echo(f"arena: {int(arena.roi.mask.sum()):,} of {rows * cols:,} pixels")
    click.echo(f"  {'true depth':<18}{arena.roi.true_depth:.1f} mm")
    if depth_range is not None:
        click.echo(f"  {'depth range':<18}{depth_range[0]:.0f}-{depth_range[1]:.0f} mm")
    for name in ("bground.tiff", "roi.tiff", "first_frame.tiff", "roi_overlay.png"):
        click.echo(f"  {name:<18}{output_dir / name}")


# ---------------------------------------------------------------------------------- videos
def _video_options(function):
    function = click.option(
        "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="Path to output file",
    )(function)  # fmt: skip
    function = click.option(
        "-b", "--chunk-size", type=click.IntRange(min=1), default=3000, show_default=True,
        help="Chunk size (frames read at a time)",
    )(function)  # fmt: skip
    function = click.option(
        "--fps", type=float, default=30, show_default=True,
        help="Video FPS (accepted for moseq2 compatibility; the recording's own frame rate and "
        "timestamps are kept)",
    )(function)  # fmt: skip
    function = click.option(
        "--delete", is_flag=True, help="Delete the input file once the copy is verified"
    )(function)
    function = click.option(
        "-t", "--threads", type=click.IntRange(min=0), default=3, show_default=True,
        help="Number of threads for encoding (0: automatic)",
    )(function)  # fmt: skip
    return function


def _writers():
    try:
        from .extractors import writers
    except ImportError as error:  # the writers arrived after this command line
        raise RunError(f"video writing is not available in this version ({error})") from None
    return writers


@main.command(name="convert-raw-to-avi")
@click.argument("input_file", type=click.Path(path_type=Path))
@_video_options
@debug_option
def convert_raw_to_avi(
    input_file: Path, output_file: Path | None, chunk_size: int, fps: float, delete: bool,
    threads: int,
) -> None:  # fmt: skip
    """Losslessly compress a raw depth file into an FFV1 .avi, verified frame by frame."""
    _existing(input_file)
    output = _writers().convert_raw_to_avi(
        input_file, output_file, delete=delete, chunk_size=chunk_size, threads=threads
    )
    click.echo(f"wrote {output} (verified frame by frame against {input_file})")
    if delete:
        click.echo(f"deleted {input_file}")


@main.command(name="copy-slice")
@click.argument("input_file", type=click.Path(path_type=Path))
@_video_options
@click.option(
    "-c", "--copy-slice", "copy_slice", type=(int, int), default=(0, 1000), show_default=True,
    help="Slice indices (first, last) of the frames to copy",
)  # fmt: skip
@click.option(
    "--camera-type", type=click.Choice(CAMERA_TYPES), default="auto", show_default=True,
    help="Camera of the recording (sets the frame size of raw files without metadata.json)",
)  # fmt: skip
@debug_option
def copy_slice(
    input_file: Path, output_file: Path | None, chunk_size: int, fps: float, delete: bool,
    threads: int, copy_slice: tuple[int, int], camera_type: str,
) -> None:  # fmt: skip
    """Copy frames of a depth recording into a new file (.avi FFV1, or .dat raw session)."""
    start, stop = copy_slice
    if start < 0 or stop <= start:
        raise InputError(
            f"--copy-slice must be (first, last) with 0 <= first < last, got {start} {stop}"
        )
    video = ExtractionConfig(camera_type=camera_type).open_video(_existing(input_file))
    stop = min(stop, video.get_num_frames())
    if output_file is None:
        stem = input_file.name.split(".")[0] if input_file.is_file() else input_file.name
        base = input_file.parent if input_file.is_file() else input_file
        output_file = base / f"{stem}_frames{start}-{stop}.avi"
    output = _writers().copy_frame_range(
        video, output_file, start, stop, chunk_size=chunk_size, threads=threads
    )
    click.echo(f"copied frames {start}..{stop} of {input_file} to {output} (verified)")
    if delete:
        close = getattr(video, "close", None)
        if callable(close):
            close()
        input_file.unlink()
        click.echo(f"deleted {input_file}")


# ---------------------------------------------------------------------------------- config
_AZURE_PRESET = {
    # moseq2-extract's generate-config --camera-type azure values.
    "bg_roi_depth_range": [550, 650],
    "spatial_filter_size": 5,
    "tail_filter_size": [15, 15],
    "crop_size": [120, 120],
    "camera_type": "azure",
}


@main.command(name="generate-config")
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
    default=Path("config.yaml"), show_default=True,
)  # fmt: skip
@click.option(
    "--camera-type", type=click.Choice(["k2", "kinect", "azure", "realsense", "auto"]),
    default="auto", show_default=True,
    help="Write moseq2-extract's preset for this camera (azure: 550-650 mm, 120x120 crops)",
)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@debug_option
def generate_config(output_file: Path, camera_type: str, overwrite: bool) -> None:
    """Write a config.yaml with every extraction parameter and its default."""
    if output_file.exists() and not overwrite:
        raise InputError(f"{output_file} exists; pass --overwrite to replace it")
    config = ExtractionConfig()
    if camera_type == "azure":
        config = config.updated(_AZURE_PRESET)
    elif camera_type in ("kinect", "k2", "realsense"):
        config = config.updated({"camera_type": "kinect" if camera_type == "k2" else camera_type})
    config.to_yaml(output_file)
    click.echo(f"wrote {output_file}")


# ---------------------------------------------------------------------------------- index
@main.command(name="generate-index")
@click.option(
    "-i", "--input-dir", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd(),
    show_default=True, help="Directory to find h5 files",
)  # fmt: skip
@click.option(
    "-o", "--output-file", type=click.Path(dir_okay=False, path_type=Path),
    default=Path.cwd() / "moseq2-index.yaml", show_default=True, help="Location for storing index",
)  # fmt: skip
@debug_option
def generate_index(input_dir: Path, output_file: Path) -> None:
    """Write moseq2-index.yaml listing every completed extraction under a directory."""
    from .batch.index import generate_index as build

    _existing(input_dir, "input directory")
    path, count = build(input_dir, output_file)
    click.echo(f"wrote {path} ({count} sessions)")


@main.command(name="aggregate-results")
@click.option(
    "-i", "--input-dir", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd(),
    show_default=True, help="Directory to find h5 files",
)  # fmt: skip
@click.option(
    "-f", "--format", "format_string", default="{start_time}_{session_name}_{subject_name}",
    show_default=True,
    help="New file name formats from respective metadata (metadata.json keys, CamelCase or "
    "snake_case)",
)  # fmt: skip
@click.option(
    "-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path.cwd() / "aggregate_results", show_default=True,
    help="Location for storing all results together",
)  # fmt: skip
@click.option(
    "--mouse-threshold", type=float, default=0, show_default=True,
    help="Threshold value for mean depth to include frames in aggregated results",
)  # fmt: skip
@debug_option
def aggregate_results(
    input_dir: Path, format_string: str, output_dir: Path, mouse_threshold: float
) -> None:
    """Copy every completed extraction (h5, yaml, mp4) into one folder, named from metadata."""
    from .batch.index import aggregate_results as aggregate

    _existing(input_dir, "input directory")
    copied, index = aggregate(input_dir, format_string, output_dir, mouse_threshold)
    click.echo(f"{len(copied)} sessions in {output_dir}")
    for path in copied:
        click.echo(f"  {path.name}")
    click.echo(f"index: {index}")


# ---------------------------------------------------------------------------------- batch
@main.command(name="batch-extract")
@click.argument("input_folder", type=click.Path(path_type=Path))
@click.option(
    "--output-dir", default="proc", show_default=True,
    help="Results directory of each session, relative to its recording",
)  # fmt: skip
@_session_options
@click.option(
    "--skip-completed/--no-skip-completed", default=True, show_default=True,
    help="Leave sessions whose results are complete alone (interrupted ones are restarted)",
)  # fmt: skip
@click.option("--no-movie", is_flag=True, help="Do not write the preview movies.")
@click.option(
    "--extensions", multiple=True, default=(".dat", ".avi", ".mkv", ".bag", ".tar.gz", ".tgz"),
    show_default=True, help="File extensions of the recordings (repeat the option)",
)  # fmt: skip
@click.option(
    "--n-jobs", type=click.IntRange(min=1), default=1, show_default=True,
    help="Sessions extracted at the same time on this machine (processes)",
)  # fmt: skip
@click.option(
    "--scheduler-address", default=None,
    help="Run the sessions on a Dask distributed cluster (e.g. tcp://host:8786; one started by "
    "dask-jobqueue for SLURM) instead of locally",
)  # fmt: skip
@click.option(
    "--summary-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also write the summary table here  [default: batch-summary.tsv in INPUT_FOLDER]",
)  # fmt: skip
@config_options(("roi", "extract", "workflow"))
@debug_option
def batch_extract(
    input_folder: Path, output_dir: str, config_file: Path | None, progress_bar: bool,
    skip_completed: bool, no_movie: bool, extensions: tuple[str, ...], n_jobs: int,
    scheduler_address: str | None, summary_file: Path | None, **given: Any,
) -> None:  # fmt: skip
    """Extract every recording found under INPUT_FOLDER, in parallel; resumable.

    Sessions are depth.dat, .avi, .mkv, .bag and .tar.gz recordings (never ir.*). Completed
    sessions are skipped, interrupted ones restarted; one failing session never stops the
    others. Each session gets extract.log; a summary table is printed and written. Exit code 1
    when any session failed.
    """
    from .batch import find_sessions, run_batch

    _existing(input_folder, "input folder")
    config = _load_config(config_file, given)
    if no_movie:
        config = config.updated({"write_movie": False})
    sessions = find_sessions(input_folder, extensions=extensions, output_dir_name=output_dir)
    if not sessions:
        raise InputError(
            f"no recordings with extensions {', '.join(extensions)} under {input_folder}"
        )
    click.echo(f"{len(sessions)} sessions under {input_folder}")
    summary = run_batch(
        sessions,
        config,
        n_jobs=n_jobs,
        scheduler_address=scheduler_address,
        skip_completed=skip_completed,
        progress=progress_bar,
    )
    click.echo(summary.format_table())
    summary_path = summary_file or input_folder / "batch-summary.tsv"
    summary.write_tsv(summary_path)
    click.echo(f"summary: {summary_path}")
    if summary.failed:
        names = ", ".join(outcome.name for outcome in summary.failed)
        raise RunError(f"{len(summary.failed)} of {len(summary.outcomes)} sessions failed: {names}")


# ---------------------------------------------------------------------------------- outputs
def _results(path: Path):
    from .io import read_results

    _existing(path, "results")
    return read_results(path)


@main.command(name="export-nwb")
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
    written = results.to_nwb(
        output, subject=subject, experimenter=experimenter, lab=lab,
        institution=institution, session_start_time=session_start_time, overwrite=overwrite,
    )  # fmt: skip
    click.echo(f"wrote {written}")


@main.command()
@click.argument("results_path", type=click.Path(path_type=Path))
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Where report.html goes  [default: beside results_00.h5]",
)  # fmt: skip
@click.option("--num-crops", type=click.IntRange(min=1, max=200), default=24, show_default=True)
@debug_option
def report(results_path: Path, output_dir: Path | None, num_crops: int) -> None:
    """Write the HTML report (with its PNG pictures) of an extraction."""
    from .io.report import write_report

    page = write_report(_results(results_path), output_dir, num_crops=num_crops)
    click.echo(f"wrote {page} (pictures in {page.parent / 'report'})")


# ---------------------------------------------------------------------------------- flips
def _read_labels(path: Path, count: int) -> list:
    """Per-session label arrays from an ``.npz`` holding one array per RESULTS, in order."""
    import zipfile

    import numpy as np

    _existing(path, "labels file")
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


@main.command(name="train-flip-classifier")
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
    from .extraction import train_flip_classifier as train

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


# ---------------------------------------------------------------------------------- demo
@main.command()
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("depthextractors_demo"),
    show_default=True,
    help="Where the synthetic session and its results are written.",
)
@click.option("--num-frames", type=click.IntRange(min=10), default=900, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-movie", is_flag=True, help="Skip the preview movie.")
@debug_option
def demo(output_dir: Path, num_frames: int, seed: int, no_movie: bool) -> None:
    """Make a synthetic Kinect v2 session, extract it, and write the report and NWB file."""
    import numpy as np

    from .extractors import open_depth_video
    from .testing import generate_synthetic_session
    from .workflow import extract_session

    session_dir = output_dir / "session"
    click.echo(f"1. Writing a synthetic session of {num_frames} frames to {session_dir} ...")
    session = generate_synthetic_session(session_dir, num_frames, dropped_frames=3, seed=seed)
    video = open_depth_video(session_dir)
    rows, cols = video.get_image_size()
    times = video.get_timestamps()
    intervals = np.diff(times)
    gaps = int(np.sum(intervals > 1.5 * np.median(intervals))) if intervals.size else 0
    click.echo(f"  opened           {video.file_path} ({type(video).__name__})")
    click.echo(f"  camera           {video.camera.name} ({rows} x {cols} pixels)")
    click.echo(f"  frames           {video.get_num_frames()}")
    click.echo(f"  frame rate       {video.get_sampling_frequency():.3f} Hz")
    click.echo(f"  duration         {times[-1] - times[0]:.2f} s")
    click.echo(
        f"  timestamp gaps   {gaps} (dropped frames; {len(session.truth.dropped_after)} made)"
    )
    click.echo("2. Extracting the animal ...")
    config = ExtractionConfig(write_movie=not no_movie)
    outcome = extract_session(session_dir / "depth.dat", session_dir / "proc", config)
    click.echo(f"   {outcome.message} in {outcome.seconds:.1f} s")
    from .io import read_results

    results = read_results(outcome.output_dir)
    truth = np.asarray(session.truth.centroid_px, dtype=float)
    found = results.valid
    if truth.shape[0] == len(results) and found.any():
        # centroid_*_px are relative to the ROI's bounding box (moseq2-extract's convention).
        roi_rows, roi_cols = np.nonzero(results.roi)
        x = np.asarray(results.scalars["centroid_x_px"][:], dtype=float) + roi_cols.min()
        y = np.asarray(results.scalars["centroid_y_px"][:], dtype=float) + roi_rows.min()
        error = np.hypot(x - truth[:, 0], y - truth[:, 1])[found]
        click.echo(f"   centroid error vs ground truth: median {np.median(error):.2f} px")
    click.echo("3. Outputs:")
    _echo_outputs(outcome)
    written = results.to_nwb(
        outcome.output_dir / "results_00.nwb",
        subject={"species": "Mus musculus", "age": "P90D", "sex": "M"},
        overwrite=True,
    )
    click.echo(f"  {'nwb':<8} {written}")
    click.echo(f"Open {outcome.outputs.get('report', outcome.output_dir)} in a browser to look.")
