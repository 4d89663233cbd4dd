"""sftrl: a reproducible companion to two 2025 papers on what SFT and RL do to an LLM's weights.

The library reads in the pipeline's order:

    task -> verifier -> prompts -> model -> evaluate -> corpus -> runs/train
         -> checkpoints -> spectral -> edits -> masks -> plots

Usage: ``python -m sftrl --help``.
"""

__version__ = "0.1.0"

import warnings as _warnings

# In a Jupyter kernel without ipywidgets, tqdm.auto (imported by transformers and datasets)
# warns that it cannot draw a widget. The pipeline shows no progress bars in notebooks
# anyway, and papermill would copy the warning onto the rendered page.
_warnings.filterwarnings("ignore", message="IProgress not found")
