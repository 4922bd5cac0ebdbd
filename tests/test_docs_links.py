"""Every link of the README and of the pages of docs/ to a file of the repository reaches
it, and every #anchor a heading of that page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from user_docs import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``."""
    names = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M):
        name = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        names.add(name)
    return names


def local_links(page: Path) -> list[str]:
    """The links of ``page`` that stay in the repository (no scheme)."""
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [link for link in LINK.findall(text)
            if "://" not in link and not link.startswith("mailto:")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_of_the_page_reaches_its_target(page: Path) -> None:
    """Each relative link names an existing file, and its anchor a heading there."""
    broken = []
    for link in local_links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (anchor and target.suffix == ".md"
                                   and anchor not in anchors(target)):
            broken.append(link)
    assert broken == []
