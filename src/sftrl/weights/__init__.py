"""Weight analysis: streaming checkpoint reads, SVDs and principal angles, singular-vector
edits, and paper B's update masks.

``checkpoints`` < ``spectral`` < ``edits``, ``masks`` < ``masks_report`` (paper B's measures for
any checkpoints, one matrix at a time); ``cli`` adds ``python -m sftrl spectra`` and ``masks``.
"""
