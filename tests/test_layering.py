"""The house is layered: no jaxvis module imports from a layer above its own
(module-level imports and imports inside functions alike, read from the
source with ``ast``). Layers, lowest first; a module may import its own
layer and those below:

0. errors, files (the error types, write-then-rename)
1. ops (array operations, the ReLU substitution interpreter), data (preprocessing, the demo world)
2. models (architectures, the framework adapters: blobs as pure functions)
3. weights (reading Caffe, torch and orbax files into a model's params)
4. net, loading, plugin, own_network, net_cache, sharding, workdir, config_files (a Net and how one is made)
5. backward, optimize, analysis, render, search, train, dictionary, config_checks (what is computed on a Net;
   the jobs' config checks, which the trainers share)
6. jobs, live (resumable jobs and the live view)
7. cli, the package itself

and within layer 5 the ascent does not reach into the projections (optimize -> backward).
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jaxvis"

LAYERS = {
    "errors": 0, "files": 0,
    "ops": 1, "data": 1,
    "models": 2,
    "weights": 3,
    "net": 4, "loading": 4, "plugin": 4, "own_network": 4, "net_cache": 4, "sharding": 4, "workdir": 4,
    "config_files": 4,
    "backward": 5, "optimize": 5, "analysis": 5, "render": 5, "search": 5, "train": 5, "config_checks": 5,
    "dictionary": 5,
    "jobs": 6, "live": 6,
    "cli": 7, "__init__": 7, "assets": 7,
}
FORBIDDEN_SIDEWAYS = {("optimize", "backward")}


def _area(module: str) -> str:
    """jaxvis.optimize.ascent -> optimize; jaxvis -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: pathlib.Path, module: str):
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names] if base == "jaxvis" else [base]
        else:
            continue
        for name in names:
            if name == "jaxvis" or name.startswith("jaxvis."):
                yield node.lineno, name


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts)


def upward_imports() -> list[str]:
    found = []
    for path, module in _modules():
        own = _area(module)
        for line, name in _imports(path, module):
            target = _area(name)
            if target == "__init__" and name == "jaxvis":
                continue  # ``from jaxvis import render``: judged by the names it imports
            if LAYERS[target] > LAYERS[own] or (own, target) in FORBIDDEN_SIDEWAYS:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}, layer {LAYERS[own]}) imports "
                             f"{name} ({target}, layer {LAYERS[target]})")
    return found


def test_every_area_has_a_layer():
    areas = {_area(module) for _, module in _modules()}
    assert areas <= set(LAYERS), sorted(areas - set(LAYERS))


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports() == []
