"""Every Python block of README.md and docs/*.md runs, top to bottom, on the
installed package; every file a page or a docstring refers to exists."""

from __future__ import annotations

import pathlib
import re

import pytest

from tests.docs.blocks import python_blocks, references

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TUTORIALS = sorted((REPO / "docs").glob("tutorial_*.md"))
DOC_CITATION = re.compile(r"docs/[\w-]+\.md")


def run_page(path: pathlib.Path) -> int:
    """Executes the page's blocks in order in one namespace (as a reader pasting
    them into one session would); returns how many ran. A failing block raises
    with the page's own file name and line numbers in the traceback."""
    ran = 0
    namespace: dict = {"__name__": "__main__"}
    for block in python_blocks(path.read_text()):
        if block.skip_reason is None:
            # Leading newlines make traceback line numbers those of the page.
            exec(compile("\n" * block.line + block.code, str(path), "exec"), namespace)
            ran += 1
    return ran


@pytest.fixture
def reader_dir(tmp_path, monkeypatch):
    """A fresh directory standing for the clone's root: configs/ as in the clone,
    everything a page writes (workdirs/, PNGs) lands here."""
    (tmp_path / "configs").symlink_to(REPO / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_page_runs(page, reader_dir):
    ran = run_page(page)
    if page in TUTORIALS or page.name == "README.md":
        assert ran >= 1, f"{page.name} has no Python block that runs"


def test_the_tutorials_are_there():
    names = {p.stem for p in TUTORIALS}
    assert {"tutorial_demo", "tutorial_weights", "tutorial_search", "tutorial_analyses"} <= names


def test_runner_runs_in_order_skips_only_marked_blocks_and_fails_on_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "Text.", "```python", "seen = ['first']", "```",
        "<!-- not run: needs your own weights.caffemodel -->", "```python", "raise SystemExit('ran')", "```",
        "```python", "seen.append('third')", "assert seen == ['first', 'third']", "```",
        "```bash", "exit 1", "```",
    ]))
    assert run_page(page) == 2
    page.write_text(page.read_text() + "\n```python\n1 / 0\n```\n")
    with pytest.raises(ZeroDivisionError) as err:
        run_page(page)
    assert err.traceback[-1].path == page and err.traceback[-1].lineno + 1 == 17  # the page's own line


def test_an_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="never closed"):
        python_blocks("```python\nx = 1\n")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_page_references_resolve(page):
    missing = [ref for ref in sorted(references(page.read_text()))
               if not ((page.parent / ref).exists() or (REPO / ref).exists())]
    assert not missing, f"{page.name} refers to files that are not in the repository: {missing}"


def test_docstrings_cite_only_files_in_the_repository():
    cited, foreign = {}, []
    for path in [*REPO.glob("jaxvis/**/*.py"), *REPO.glob("tests/**/*.py"), *REPO.glob("configs/*.py"),
                 *REPO.glob("benchmarks/*.py")]:
        text = path.read_text()
        for ref in DOC_CITATION.findall(text):
            cited.setdefault(ref, []).append(path.relative_to(REPO))
        if "SPEC" + ".md" in text:
            foreign.append(path.relative_to(REPO))
    assert not foreign, f"these cite a file outside the repository: {foreign}"
    assert cited, "no docstring cites docs/ (the facts the code relies on live there)"
    missing = {ref: where for ref, where in cited.items() if not (REPO / ref).is_file()}
    assert not missing, f"cited docs that do not exist: {missing}"
