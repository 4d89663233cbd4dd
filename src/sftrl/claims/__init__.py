"""Claims: the papers' numbers, every claim stated once, one rule per claim, the scoreboard.

``papers`` < ``registry`` < ``rules`` < ``scoreboard``; ``study_log`` judges every configuration
of the small-model study by the same rules (``make study``).
"""
