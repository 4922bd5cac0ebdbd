"""Fixtures every test directory shares.

    clock           a settable :class:`FakeClock` (tests/support/fake_clock.py; call it for
                    the time; ``.advance(s)``).
    django_handler  Django's WSGI handler for the one-page site in
                    tests/adapters/middleware/django_site.py (session-wide: Django's
                    settings can be configured once per process).

At the session's end it stops the PostgreSQL cluster the session started for itself, if
it did (tests/support/postgres_db.py). Nothing here imports a web framework at module
level: the engine-only environment loads this file too.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock
from postgres_db import stop_session_cluster

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
