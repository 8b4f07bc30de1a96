"""The bridge between the engine and the GUI — the one way work gets from widgets to torch.

The rule (enforced by an import-linter contract in the test run): widgets, panels, plots, forms
and the window may import only the engine's torch-free modules — presets (``engine.preset``),
run files (``engine.runs``), events and their typed values (``engine.events``), errors, wording,
run control and export format names. Anything that imports torch or runs work — training,
data inspection, summaries, the LR finder, export — is reached only through this package:
:mod:`workbench.bridge.training_session` (runs), :mod:`workbench.bridge.jobs` (background
work) and :mod:`workbench.bridge.engine_calls` (the engine functions jobs run). So the window
shows before torch loads, and no torch operation ever runs on the GUI thread.
"""
