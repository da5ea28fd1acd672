"""Pipeline steps: one module per command.

Each module holds a ``Params`` dataclass (the command's JSON keys), an ``Outputs`` dataclass
(the paths it wrote, and small summaries) and ``run(params) -> Outputs``. Steps are the only
code that reads or writes a step folder; algorithms take and return arrays. The pipeline
connects steps through ``Outputs`` fields (see :mod:`bpnetkit.pipeline.registry`).
"""
