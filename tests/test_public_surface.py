"""``import jaxvis`` is the whole documented surface: the names the README and
docs/ use are attributes of ``jaxvis``, the pages import no submodule, and
no function or class of a package hides a submodule of the same name."""

import importlib
import pathlib
import pkgutil
import re
import types

import jaxvis
from tests.docs.blocks import python_blocks

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_exported_name_exists():
    missing = [name for name in jaxvis.__all__ if not hasattr(jaxvis, name)]
    assert not missing


def test_no_function_hides_a_module():
    hidden = []
    for info in pkgutil.walk_packages(jaxvis.__path__, "jaxvis."):
        parent, _, name = info.name.rpartition(".")
        if parent.startswith("jaxvis.cli"):
            continue  # each command module defines flags when imported; cli/__init__ exports nothing
        importlib.import_module(info.name)
        attribute = getattr(importlib.import_module(parent), name)
        if not isinstance(attribute, types.ModuleType):
            hidden.append(f"{info.name} is hidden by {attribute!r}")
    assert not hidden


def test_the_pages_import_only_jaxvis_itself():
    submodule_imports = re.compile(r"^\s*(from\s+jaxvis[.\w]*\s+import|import\s+jaxvis\.)", re.M)
    found = [(page.name, block.line) for page in PAGES for block in python_blocks(page.read_text())
             if submodule_imports.search(block.code)]
    assert not found, f"blocks that import a jaxvis submodule (page, line): {found}"


def test_the_jaxvis_names_the_pages_call_exist():
    called = {m for page in PAGES for block in python_blocks(page.read_text())
              for m in re.findall(r"\bjaxvis\.(\w+)", block.code)}
    assert {"load_model", "visualize", "project", "render_projection", "save_png", "load_config"} <= called
    assert not [name for name in called if not hasattr(jaxvis, name)]
