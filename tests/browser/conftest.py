"""Fixtures for the browser tests: headless Chromium, and the folder for screenshots.

    browser    one Chromium process per module (tests/support/chromium.py). Without
               Chromium these tests fail, saying how to install it; they never skip.
    page       a new tab of ``browser``, closed after the test.
    artifacts  where screenshots go: ``$TFA_TEST_ARTIFACTS``, else ``test-artifacts/`` at the
               top of the checkout (ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import Browser, Page, find_chromium
from tfa_processes import REPO

ARTIFACTS_ENV = "TFA_TEST_ARTIFACTS"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A headless Chromium with a profile of its own, ended after the module."""
    started = Browser(find_chromium(), tmp_path_factory.mktemp("chromium"))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new tab."""
    opened = browser.new_page()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder test pictures are kept in (created)."""
    folder = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
