"""The worked configurations of docs/gateways/http.md, read as the tests use them: each
``[[gateways]]`` table of the page's TOML blocks, with chosen URL prefixes rewritten (the
provider's host to a local fake, this service's to the server under test) and nothing
else changed."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published separately before 3.11
    tomllib: Any = importlib.import_module("tomli")

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateways" / "http.md"
SERVICE = "https://tfa.example.com"  # where the page's callback URLs reach this service
SECRET = "change-me"  # the page's TFA_DLR_SECRET
ORIGINS = {  # each provider's API origin as the page writes it
    "twilio": "https://api.twilio.com",
    "vonage": "https://rest.nexmo.com",
    "infobip": "https://xyz123.api.infobip.com",
}


def doc_gateway(name: str, rewrite: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The page's table of the gateway ``name``, each key of ``rewrite`` replaced by its
    value in the block's text first."""
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"^```toml\n(.*?)^```$", text, flags=re.S | re.M):
        for old, new in (rewrite or {}).items():
            block = block.replace(old, new)
        for table in tomllib.loads(block).get("gateways", []):
            if table.get("name") == name:
                return dict(table)
    raise LookupError(f"no [[gateways]] named {name!r} in {DOC}")


def doc_block(name: str, rewrite: Mapping[str, str] | None = None) -> str:
    """The page's TOML block declaring the gateway ``name``, rewritten as
    :func:`doc_gateway` does: a settings file as the page writes it."""
    text = DOC.read_text(encoding="utf-8")
    for block in re.findall(r"^```toml\n(.*?)^```$", text, flags=re.S | re.M):
        if f'name = "{name}"' in block:
            for old, new in (rewrite or {}).items():
                block = block.replace(old, new)
            return str(block)
    raise LookupError(f"no [[gateways]] named {name!r} in {DOC}")
