"""What a newcomer finds at the top of the checkout: the licence the metadata names."""

import importlib.metadata
from pathlib import Path

LICENSE = (Path(__file__).resolve().parent.parent / "LICENSE").read_text(encoding="utf-8")


def test_license_is_the_mit_licence_of_the_contributors() -> None:
    """LICENSE holds the MIT licence text, copyright the tfa-engine contributors."""
    assert LICENSE.startswith("MIT License\n")
    assert "Copyright (c) 2026 tfa-engine contributors" in LICENSE
    assert "Permission is hereby granted, free of charge" in LICENSE


def test_metadata_names_the_same_licence() -> None:
    """The installed distribution declares MIT, the licence LICENSE holds."""
    assert importlib.metadata.metadata("tfa-engine")["License"] == "MIT"
