"""Claims: the papers' numbers, every claim stated once, one rule per claim, the scoreboard.

``papers`` < ``registry`` < ``rules`` < ``scoreboard``.
"""
