"""Every figure's data function, by figure group (the keys of :data:`sftrl.claims.registry.GROUPS`).

Each is called with a configuration and the library's defaults, which the figure page's
parameters cell repeats; the claims page and the study log judge the claims on them.

Usage: ``from sftrl.experiments.figures import DATA; d = DATA["fig4"](config.profile("cpu"))``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sftrl.config import StudyConfig
from sftrl.experiments import figure1, figure2, figure3, figure4, figure5, figure6, figure7

#: figure group -> the function that returns its data for a configuration (library defaults)
DATA: dict[str, Callable[[StudyConfig], Any]] = {
    "fig1": figure1.data, "fig2": figure2.data, "fig3": figure3.data, "fig4": figure4.data,
    "fig5": figure5.data, "fig6": figure6.data, "fig7": figure7.data,
}
#: the groups whose data come from one SFT run of the configuration (paper A's Figures 1-5):
#: those a reseed of SFT changes, and the study log judges under every SFT seed
SFT_GROUPS: tuple[str, ...] = ("fig1", "fig2", "fig3", "fig4", "fig5")


def from_pipeline(d: Any) -> bool:
    """Whether a figure's data are the pipeline's own runs (not checkpoints a reader named)."""
    models = getattr(d, "models", None)
    return models is None or getattr(models, "source", "pipeline") == "pipeline"
