"""sftrl: a reproducible companion to two 2025 papers on what SFT and RL do to an LLM's weights.

The library reads in the pipeline's order, one subpackage per layer; a module imports only
from its own layer or the ones before it:

    task -> training -> evaluation -> weights -> experiments -> claims -> book

Below them all: ``paths`` (where things live), ``errors`` (the one user-error type),
``config`` (the run configurations and profiles) and ``fmt`` (how numbers are written).
``cli`` is the command line over the layers.

Usage: ``python -m sftrl --help``.
"""

__version__ = "0.1.0"

import warnings as _warnings

# In a Jupyter kernel without ipywidgets, tqdm.auto (imported by transformers and datasets)
# warns that it cannot draw a widget. The pipeline shows no progress bars in notebooks
# anyway, and papermill would copy the warning onto the rendered page.
_warnings.filterwarnings("ignore", message="IProgress not found")
