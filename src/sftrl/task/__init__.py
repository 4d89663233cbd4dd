"""The task: the GeneralPoints card game, its verifier, its prompts and the training corpus.

``game`` (rules, hands, the exact solver) < ``verifier`` < ``prompts`` < ``corpus``.
"""
