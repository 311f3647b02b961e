"""The ``depthextractors`` command line: moseq2-extract's commands, options and config files.

Commands: ``extract``, ``find-roi``, ``convert-raw-to-avi``, ``copy-slice``, ``generate-config``,
``generate-index``, ``aggregate-results``, ``batch-extract`` (as moseq2-extract), plus
``export-nwb``, ``report``, ``train-flip-classifier``, ``compare`` and ``demo``. Each family
of commands has its module here; :mod:`.options` makes the extraction options from the
parameter table and :mod:`.terminal` what reaches the terminal.

Extraction options are generated from :class:`depthextractors.config.ExtractionConfig`, so their
names and defaults are moseq2-extract's and cannot drift from the configuration file. Values are
taken, in order of precedence, from the command line, then ``--config-file``, then the defaults.

Errors: bad input (a missing file, an unknown file type, malformed YAML, a value out of range)
prints one line ``Error: ...`` and exits with code 2; any other failure prints one line and
exits with 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import click

from .._version import __version__
from .compare import compare
from .configuration import aggregate_results, generate_config, generate_index
from .demo import demo
from .extraction import batch_extract, extract, find_roi
from .outputs import export_nwb, report, train_flip_classifier
from .terminal import OneLineErrorGroup, configure_terminal_output, debug_option
from .video import convert_raw_to_avi, copy_slice

__all__ = ["main"]


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="depthextractors")
@debug_option
def main() -> None:
    """Read depth-camera recordings and extract the animal from them (MoSeq extraction).

    Option names, defaults and config.yaml files are moseq2-extract's.
    """
    configure_terminal_output()


for _command in (
    extract, find_roi, batch_extract,
    convert_raw_to_avi, copy_slice,
    generate_config, generate_index, aggregate_results,
    export_nwb, report, train_flip_classifier, compare,
    demo,
):  # fmt: skip
    main.add_command(_command)
