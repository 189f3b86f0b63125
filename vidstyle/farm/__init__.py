"""Render farms: split renders into frame-range chunks, render each anywhere, join them.

The flow, each step a public function the CLI (``vidstyle farm ...``) calls:

1. :func:`~vidstyle.farm.plan.make_plan` reads a job file (TOML: many renders)
   and writes a plan folder: ``plan.json`` (plain JSON any farm can read) with
   every render's settings (:mod:`vidstyle.settings` values, every one explicit)
   and its chunks' frame ranges.
2. :func:`~vidstyle.farm.chunk.render_chunk` renders one chunk into the plan
   folder, atomically, and marks it done once verified; a verified chunk is
   skipped. Any scheduler (OpenCue, Deadline, Flamenco, a shell loop) can run
   ``vidstyle farm render PLAN --chunk K`` or ``--render R --frames A-B``.
3. :func:`~vidstyle.farm.assemble.assemble` joins a render's chunks by stream
   copy (:mod:`vidstyle.farm.join`), adds the input's audio once and checks the
   frame count.

:mod:`vidstyle.farm.executors` runs steps 2-3 for a whole plan on this machine
or as Ray tasks (``pip install 'vidstyle[farm]'``).
"""
from __future__ import annotations

from .assemble import assemble, assemble_plan
from .chunk import ChunkResult, chunk_state, render_chunk
from .plan import ChunkPlan, Plan, RenderPlan, RenderSpec, load_job, load_plan, make_plan

__all__ = [
    "ChunkPlan",
    "ChunkResult",
    "Plan",
    "RenderPlan",
    "RenderSpec",
    "assemble",
    "assemble_plan",
    "chunk_state",
    "load_job",
    "load_plan",
    "make_plan",
    "render_chunk",
]
