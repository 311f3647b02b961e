"""The video commands: ``convert-raw-to-avi`` and ``copy-slice``."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import ExtractionConfig
from .options import CAMERA_CHOICE, existing, load_config, reading_options
from .terminal import InputError, RunError, debug_option


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
    function = click.option(
        "-m", "--mapping", default=None,
        help="moseq2-extract's stream selection: the title of the Azure .mkv track read "
        "(--track)  [default: DEPTH]",
    )(function)  # fmt: skip
    function = click.option(
        "--camera-type", type=CAMERA_CHOICE, default="auto", show_default=True,
        help="Camera of the recording (sets the frame size of raw files without metadata.json)",
    )(function)  # fmt: skip
    return reading_options(function)


def _reading(camera_type: str, mapping: str | None, **options) -> ExtractionConfig:
    """The configuration that opens the input: camera and reading options."""
    given = {"camera_type": camera_type, "mapping": mapping, **options}
    return load_config(None, given)


def _writers():
    try:
        from ..extractors import writers
    except ImportError as error:  # the writers arrived after this command line
        raise RunError(f"video writing is not available in this version ({error})") from None
    return writers


@click.command(name="convert-raw-to-avi")
@click.argument("input_file", type=click.Path(path_type=Path))
@_video_options
@debug_option
def convert_raw_to_avi(
    input_file: Path, output_file: Path | None, chunk_size: int, fps: float, delete: bool,
    threads: int, mapping: str | None, camera_type: str, **reading,
) -> None:  # fmt: skip
    """Losslessly compress a raw depth file into an FFV1 .avi, verified frame by frame."""
    existing(input_file)
    options = _reading(camera_type, None, **reading).reading_options()
    for name in ("allow_truncated", "track"):
        if name in options:
            raise InputError(f"{name}={options[name]!r} does not apply to raw .dat recordings")
    camera = {"camera": "kinect" if camera_type == "k2" else camera_type.lower()}
    output = _writers().convert_raw_to_avi(
        input_file, output_file, delete=delete, chunk_size=chunk_size, threads=threads,
        **camera, **options,
    )  # fmt: skip
    click.echo(f"wrote {output} (verified frame by frame against {input_file})")
    if delete:
        click.echo(f"deleted {input_file}")


@click.command(name="copy-slice")
@click.argument("input_file", type=click.Path(path_type=Path))
@_video_options
@click.option(
    "-c", "--copy-slice", "copy_slice", type=(int, int), default=(0, 1000), show_default=True,
    help="Slice indices (first, last) of the frames to copy",
)  # fmt: skip
@debug_option
def copy_slice(
    input_file: Path, output_file: Path | None, chunk_size: int, fps: float, delete: bool,
    threads: int, mapping: str | None, camera_type: str, copy_slice: tuple[int, int], **reading,
) -> None:  # fmt: skip
    """Copy frames of a depth recording into a new file (.avi FFV1, or .dat raw session)."""
    start, stop = copy_slice
    if start < 0 or stop <= start:
        raise InputError(
            f"--copy-slice must be (first, last) with 0 <= first < last, got {start} {stop}"
        )
    video = _reading(camera_type, mapping, **reading).open_video(existing(input_file))
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
