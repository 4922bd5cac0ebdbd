"""Benchmarks for tfa-engine: floors, the engine in-process, the service over HTTP, a peer.

Run ``python -m benchmarks`` (or ``tox -e bench``) from the repository root; ``--quick``
does one short run of each figure, for a smoke test. Results go to
``benchmarks/results/latest.json`` (every raw run, medians, the target ratios, the machine)
and ``benchmarks/results/latest.png``; a table of the targets is printed.

Every figure is the median of several bounded runs, and every target is a ratio between
figures of the same invocation, so the machine's speed cancels out. Every control is on,
as users run the service, with limits far above the load so that it is never refused
(``--controls off``, a diagnostic, turns the limits, budgets and fraud guard off).
"""
