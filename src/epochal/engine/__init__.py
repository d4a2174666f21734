"""The training engine: the per-call :class:`Run`, the loop that alone fires hooks, the steps.

Layering: ``engine`` sits above ``data``, ``distributed`` and ``callbacks`` and below
``models``: the model facade builds a :class:`Run` and calls :func:`run_fit`,
:func:`run_evaluate` or :func:`run_predict`.
"""

from epochal.engine.loop import run_evaluate, run_fit, run_predict, should_validate
from epochal.engine.metrics_tracker import CompiledMetrics, check_targets
from epochal.engine.run import LoopHost, Run
from epochal.engine.state import TrainState, capture_rng, restore_rng

__all__ = [
    "CompiledMetrics",
    "LoopHost",
    "Run",
    "TrainState",
    "capture_rng",
    "check_targets",
    "restore_rng",
    "run_evaluate",
    "run_fit",
    "run_predict",
    "should_validate",
]
