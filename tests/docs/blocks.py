"""The Python blocks of a Markdown page, and what a page refers to.

A block is a fence opened by a line that is exactly three backticks and
``python`` and closed by three backticks. A block that needs a file the
reader must bring is preceded (on the line right before its fence) by a
marker ``<!-- not run: REASON -->``; those are the only blocks not run. A
block that needs more than the README's install (``pip install -e .``) is
preceded by ``<!-- needs: pip install WHAT -->`` (``'.[test]'``, ``keras``,
...): it runs in the test suite, which has the test extra, and the page tells
the reader what to install.
"""

from __future__ import annotations

import dataclasses
import re

FENCE = "```"
SKIP = re.compile(r"^<!-- not run: (\S.*\S) -->$")
NEEDS = re.compile(r"^<!-- needs: pip install (\S.*\S) -->$")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PATH = re.compile(r"`((?:docs|jaxvis|tests|benchmarks|configs|launch)/[\w./-]*\w)`")


@dataclasses.dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    skip_reason: str | None
    needs: str | None = None  # what to pip install beyond the README's install


def python_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == FENCE + "python":
            start = i
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != FENCE:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"line {start + 1}: a python block is never closed")
            before = lines[start - 1].strip() if start else ""
            marker, needs = SKIP.match(before), NEEDS.match(before)
            blocks.append(Block(start + 1, "\n".join(body) + "\n", marker.group(1) if marker else None,
                                needs.group(1) if needs else None))
        i += 1
    return blocks


CODE = re.compile(r"^```.*?^```", re.S | re.M)


def references(text: str) -> set[str]:
    """Relative link targets and backticked repository paths named in the prose
    of ``text`` (fenced code is not prose)."""
    prose = CODE.sub("", text)
    links = {m for m in LINK.findall(prose) if "://" not in m and not m.startswith("mailto:")}
    return links | set(PATH.findall(prose))
