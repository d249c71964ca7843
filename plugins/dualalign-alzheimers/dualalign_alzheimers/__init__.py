"""Alzheimer's disease pack: data only; the core's generic samplers do the sampling."""

from pathlib import Path

from dualalign_core import hookimpl
from dualalign_core.disease import DiseasePack

DATA = Path(__file__).parent / "data"


@hookimpl
def register_diseases(register):
    register(DiseasePack.from_directory(DATA))
