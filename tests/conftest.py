"""Fixtures every test directory shares.

    clock           a settable :class:`FakeClock` (tests/support/fake_clock.py; call it for
                    the time; ``.advance(s)``).
    django_handler  Django's WSGI handler for the one-page site in
                    tests/adapters/middleware/django_site.py (session-wide: Django's
                    settings can be configured once per process).

At the session's end it stops the PostgreSQL cluster the session started for itself, if
it did (tests/support/postgres_db.py); its header names the PostgreSQL the tests use.
Nothing here imports a web framework at module level: the engine-only environment loads
this file too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock
from postgres_db import URL_VARIABLE, stop_session_cluster

from dev.postgres import MISSING, server_programs

# Directories whose every test is `slow` (chaos: processes killed and networks stalled).
SLOW_DIRECTORIES = ("chaos",)
# The attack suite's evidence is gathered in one process (tests/attacks/conftest.py).
ONE_WORKER_DIRECTORIES = ("tests/attacks/",)
DJANGO_SITE = "tfa_middleware_django_site"
DJANGO_SITE_FILE = Path(__file__).resolve().parent / "adapters" / "middleware" / "django_site.py"


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at a fixed instant."""
    return FakeClock()


def _load_django_site() -> None:
    if DJANGO_SITE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(DJANGO_SITE, DJANGO_SITE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[DJANGO_SITE] = module
    spec.loader.exec_module(module)


@pytest.fixture(scope="session")
def django_handler() -> Iterator[Callable[..., Any]]:
    """Django's WSGI handler for the test site (settings configured once per process)."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.test.utils import override_settings

    _load_django_site()
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="middleware-tests-only",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=DJANGO_SITE,
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            DATABASES={},
        )
        django.setup()
    with override_settings(ROOT_URLCONF=DJANGO_SITE, ALLOWED_HOSTS=["*"]):
        yield get_wsgi_application()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the PostgreSQL cluster this session started for itself, if it did."""
    stop_session_cluster()


def pytest_report_header(config: pytest.Config) -> str:
    """Which PostgreSQL the PostgreSQL cases use."""
    if os.environ.get(URL_VARIABLE, "").strip():
        return f"postgresql: the database {URL_VARIABLE} names"
    programs = server_programs()
    if programs is None:
        return f"postgresql: {MISSING}"
    return f"postgresql: throwaway clusters of {programs.bin} ({programs.source})"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under xdist, each test module runs whole on one worker (its module fixtures, often
    real processes, start once), and so does each of ONE_WORKER_DIRECTORIES."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return next((d for d in ONE_WORKER_DIRECTORIES if module.startswith(d)), module)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of SLOW_DIRECTORIES ``slow``."""
    here = Path(__file__).resolve().parent
    slow = tuple(here / name for name in SLOW_DIRECTORIES)
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in slow):
            item.add_marker(pytest.mark.slow)
