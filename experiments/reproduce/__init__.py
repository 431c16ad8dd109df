"""The CPU-scale reproduction of the paper's high-level findings (CIFAR-10 classification, CamVid
segmentation) as one resumable pipeline, outside the library it drives:

- ``config``:   ``ReproduceConfig``, every setting with its default and help (the command's flags);
- ``stages``:   the plan (heads, separate denoisers per sigma, the loss-scale choice, joint denoisers per
  sigma, the Tables IV/V evaluation), each stage one library call with a config dataclass, and running the
  stages not yet done;
- ``loss_scale``: the joint loss scale chosen per task on validation data (``choose_loss_scale`` is its
  command);
- ``findings``: the paper's findings checked on the tables, the score-vs-sigma plot, example figures;
- ``report``:   ``RESULTS.md`` from the measured tables.

``python -m experiments.reproduce`` (``__main__``) runs it.
"""

from __future__ import annotations

from experiments.reproduce.config import ReproduceConfig
from experiments.reproduce.report import write_report
from experiments.reproduce.stages import plan, run_stages

__all__ = ["ReproduceConfig", "plan", "run", "write_report"]


def run(config: ReproduceConfig, progress: bool = True, report: bool = True) -> list[str]:
    """Runs every stage not yet done, then writes the report. Returns the names of the stages run.

    Raises ``RuntimeError`` naming the stage and its log (last lines included) when a stage fails;
    re-running after fixing the cause goes on from there.
    """
    ran = run_stages(config, progress)
    if report:
        write_report(config)
    return ran
