"""How ``tfa serve`` has waitress treat connections.

* Forwarding headers reach the app untouched: waitress 3 would drop them from every
  peer it does not trust itself, and the app's own rule (the rightmost address that is
  not a trusted proxy, headers believed from trusted proxies only) must be the judge.
"""

from __future__ import annotations

from typing import Any

from .settings import Settings


def waitress_options(settings: Settings) -> dict[str, Any]:
    """The waitress adjustments for ``settings``."""
    return {
        "threads": settings.threads,
        "clear_untrusted_proxy_headers": False,
    }
