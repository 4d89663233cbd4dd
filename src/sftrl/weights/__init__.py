"""Weight analysis: streaming checkpoint reads, SVDs and principal angles, singular-vector
edits, and paper B's update masks.

``checkpoints`` < ``spectral`` < ``edits``, ``masks``; ``cli`` adds ``python -m sftrl spectra``.
"""
