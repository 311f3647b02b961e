"""The layers hold, at run time too: every import of every module, including those inside
functions, goes one way (extractors <- extraction <- io <- workflow, batch, cli), nothing imports
the package root or the command line, and ``import depthextractors`` loads the reading layer
only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "depthextractors"

# What each part may import of the package (beyond itself); "" is the package root.
ALLOWED = {
    "_version": set(),
    "cameras": {"_version"},
    "extractors": {"_version", "cameras"},
    "extraction": {"_version", "cameras", "extractors"},
    "io": {"_version", "cameras", "extractors", "extraction"},
    "testing": {"_version", "cameras", "extractors"},
    "config": {"_version", "cameras", "extractors", "extraction", "io"},
    "session_outputs": {"_version", "cameras", "extractors", "extraction", "io", "config"},
    "workflow": {
        "_version", "cameras", "extractors", "extraction", "io", "config", "session_outputs",
        "testing",
    },
    "batch": {
        "_version", "cameras", "extractors", "extraction", "io", "config", "session_outputs",
        "workflow",
    },
    "cli": {
        "_version", "cameras", "extractors", "extraction", "io", "config", "session_outputs",
        "workflow", "batch", "testing",
    },
    "__main__": {"cli"},
}


def _part(module: str) -> str:
    """The top-level part of the package a dotted module name belongs to ("" = the root)."""
    parts = module.split(".")
    return "" if len(parts) == 1 else parts[1]


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module of the package imported anywhere in ``path`` (absolute dotted names)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None or target == "depthextractors":
                # ``from . import x`` / ``from .. import x``: x may be a module or a name.
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, module) for line, module in found if module.split(".")[0] == "depthextractors"]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path):
    own = _part(_module_name(path)) if path.name != "__init__.py" or path.parent != PACKAGE else ""
    if own == "":
        return  # the package root re-exports every layer (lazily)
    allowed = ALLOWED[own] | {own}
    for line, module in _imports(path):
        target = _part(module)
        target = target if target in ALLOWED or target == "" else module.split(".")[1]
        assert target != "", (
            f"{path.relative_to(PACKAGE)}:{line} imports the package root ({module}); import "
            "the module that defines the name"
        )
        assert target in allowed, (
            f"{path.relative_to(PACKAGE)}:{line} imports {module}: the {own} layer may import "
            f"only {sorted(allowed)}"
        )


def test_import_loads_the_reading_layer_only():
    code = (
        "import sys, depthextractors; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('scipy', 'sklearn', 'h5py', 'matplotlib', 'pynwb', 'hdmf', 'click', 'tqdm', 'yaml', "
        "'tifffile') or m.startswith('depthextractors.extraction') or "
        "m.startswith('depthextractors.io'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == [], f"import depthextractors loads {loaded}"


def test_lazy_names_resolve():
    import depthextractors

    for name in depthextractors.__all__:
        assert getattr(depthextractors, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute"):
        _ = depthextractors.NotAThing
