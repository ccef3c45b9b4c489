"""Every docs block that is not marked ``<!-- needs: pip install WHAT -->``
runs after the README's own install (``pip install -e .``): each module it
imports imports in a fresh interpreter that refuses the modules of every
installed distribution outside jaxvis's runtime dependencies (and what they
require in turn). A block importing ``starlette.testclient`` (which needs
httpx) or ``keras`` without the marker fails here."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.docs.blocks import python_blocks

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# Run in the fresh interpreter: refuse every top-level module outside the allowed set, then import each name.
PROBE = """
import importlib, importlib.machinery, json, site, sys
allowed, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
installed = tuple(site.getsitepackages())
class Refuse:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or "." in name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not (spec.origin or "").startswith(installed):
            return None  # the standard library, or not installed at all
        raise ModuleNotFoundError(f"{top} is not installed by the README's install", name=top)
sys.meta_path.insert(0, Refuse())
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as e:  # ModuleNotFoundError, or a module's own complaint (starlette.testclient's RuntimeError)
        failed[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
print(json.dumps(failed))
"""


def runtime_distributions() -> set[str]:
    """jaxvis and the closure of its requirements, extras left out (canonical names)."""
    todo, seen = ["jaxvis"], set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def allowed_modules() -> list[str]:
    runtime = runtime_distributions()
    tops = {top for top, dists in metadata.packages_distributions().items()
            if any(canonicalize_name(d) in runtime for d in dists)}
    return sorted(tops | {"jaxvis", "examples"})


def imported_modules(code: str) -> set[str]:
    """Modules a block imports; ``from a.b import c`` also tries ``a.b.c`` (c may be a submodule)."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def unmarked_imports(page: pathlib.Path) -> set[str]:
    return {name for block in python_blocks(page.read_text()) if block.skip_reason is None and block.needs is None
            for name in imported_modules(block.code)}


def refused(names) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(allowed_modules()), json.dumps(sorted(names))],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_check_refuses_what_the_readme_does_not_install():
    assert "httpx" not in allowed_modules() and "torch" not in allowed_modules()
    assert set(refused(["starlette.testclient", "torch", "jaxvis", "numpy"])) == {"starlette.testclient", "torch"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_unmarked_blocks_run_after_the_readmes_install(page):
    names = unmarked_imports(page)
    failed = refused(names) if names else {}
    assert not failed, (f"{page.name}: blocks import modules the README's install lacks; mark them "
                        f"<!-- needs: pip install WHAT -->: {failed}")
