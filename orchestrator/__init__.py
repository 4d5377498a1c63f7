"""stackbake: a declarative build orchestrator for container image hierarchies."""

__version__ = "0.1.0"
