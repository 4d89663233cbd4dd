"""sftrl: a reproducible companion to two 2025 papers on what SFT and RL do to an LLM's weights.

The library reads in the pipeline's order:

    task -> verifier -> prompts -> model -> evaluate -> corpus -> runs/train
         -> checkpoints -> spectral -> edits -> masks -> plots

Usage: ``python -m sftrl --help``.
"""

__version__ = "0.1.0"
