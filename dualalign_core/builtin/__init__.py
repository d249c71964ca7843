"""The core's own components, registered through the same entry point mechanism as any plugin."""

from dualalign_core import API_VERSION, hookimpl
from dualalign_core.annotate.from_plan import PlanAnnotator
from dualalign_core.annotate.lexicon import LexiconAnnotator
from dualalign_core.builtin.template_generator import TemplateGenerator
from dualalign_core.filters import FILTERS
from dualalign_core.sampling.personas import PrevalencePersonaSource
from dualalign_core.sampling.trajectory import StageScheduleSampler
from dualalign_core.sampling.uniform import UniformPersonaSource, UniformSampler

DUALALIGN_API = f"=={API_VERSION}"  # the core's own components always match the core


@hookimpl
def register_persona_sources(register):
    register("prevalence", PrevalencePersonaSource)
    register("uniform", UniformPersonaSource)  # the unaligned ablation baseline


@hookimpl
def register_trajectory_samplers(register):
    register("stage-schedule", StageScheduleSampler)
    register("uniform", UniformSampler)  # the unaligned ablation baseline: no trajectory


@hookimpl
def register_generators(register):
    register("template", TemplateGenerator)


@hookimpl
def register_annotators(register):
    register("lexicon", LexiconAnnotator)
    register("plan", PlanAnnotator)  # the template grammar's own labels


@hookimpl
def register_filters(register):
    for name, cls in FILTERS.items():
        register(name, cls)
