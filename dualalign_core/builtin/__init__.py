"""The core's own components, registered through the same entry point mechanism as any plugin."""

from dualalign_core import hookimpl
from dualalign_core.builtin.template_generator import TemplateGenerator
from dualalign_core.sampling.personas import PrevalencePersonaSource
from dualalign_core.sampling.trajectory import StageScheduleSampler


@hookimpl
def register_persona_sources(register):
    register("prevalence", PrevalencePersonaSource)


@hookimpl
def register_trajectory_samplers(register):
    register("stage-schedule", StageScheduleSampler)


@hookimpl
def register_generators(register):
    register("template", TemplateGenerator)
