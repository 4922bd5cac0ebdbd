"""The user's documentation as the tests read it: the README and the pages of docs/ it
links, whole or by section, and the code blocks they show."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def page(name: str) -> str:
    """The text of ``name`` (``README.md``, or a page such as ``docs/http-api.md``)."""
    return (ROOT / name).read_text(encoding="utf-8")


def every_page() -> str:
    """The README and every page under docs/, one after the other."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return "\n".join([README, *(p.read_text(encoding="utf-8") for p in pages)])


def section(text: str, title: str) -> str:
    """The section of ``text`` headed ``title`` (at any level), up to the next heading of
    the same level or higher."""
    heading = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    if heading is None:
        raise LookupError(f"no section {title!r}")
    level = len(heading[1])
    rest = text[heading.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return text[heading.start(): heading.end() + (end.start() if end else len(rest))]


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)
