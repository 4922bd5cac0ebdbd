"""Tools for working on tfa-engine from a checkout, shared by the tests, the benchmarks
and CI: the one PostgreSQL cluster starter (:mod:`dev.postgres`), the one free-port helper
(:mod:`dev.ports`) and the README's test command (``python3 dev/test.py``).

The standard library only: a fresh machine's bare ``python3`` runs ``dev/test.py``, and
the engine-only test environment (no framework, no psycopg) imports the rest. Never part
of the installed package.
"""
