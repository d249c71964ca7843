"""Alzheimer's disease pack: data only; the core's generic samplers do the sampling."""

from pathlib import Path

from dualalign_core.api import DiseasePack, hookimpl

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

DATA = Path(__file__).parent / "data"


@hookimpl
def register_diseases(register):
    register(DiseasePack.from_directory(DATA))
