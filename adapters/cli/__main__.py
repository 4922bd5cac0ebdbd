"""``python -m tfa_engine.adapters.cli``: the ``tfa`` command."""

from . import main

raise SystemExit(main())
