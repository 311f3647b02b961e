"""Record the golden results: ``python tests/golden/make_golden.py`` (from the project root).

Run it only when a change of results is intended; say in the commit which datasets changed
and why. ``tests/test_golden.py`` compares every later extraction with what this writes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sessions import (
    GOLDEN_SESSIONS,
    dump,
    extract,
    input_digest,
    make_input,
    read_datasets,
    summarise,
)

REFERENCE = Path(__file__).parent / "reference.yaml"


def main() -> None:
    reference = {}
    with tempfile.TemporaryDirectory() as scratch:
        for session in GOLDEN_SESSIONS:
            directory = Path(scratch) / session.name
            recording = make_input(session, directory)
            results = extract(session, recording, directory / "proc")
            reference[session.name] = {
                "input": input_digest(recording),
                "datasets": summarise(read_datasets(results)),
            }
            count = len(reference[session.name]["datasets"])
            sys.stdout.write(f"{session.name}: {count} datasets\n")
    REFERENCE.write_text(dump(reference))
    sys.stdout.write(f"wrote {REFERENCE}\n")


if __name__ == "__main__":
    main()
