"""Experiments: one module per figure, each with a ``data(cfg, ...)`` function that returns
what its page draws and its claims are judged on (``figure1`` .. ``figure7``), over the
shared studies they read (``models``: the four models, their edits and evaluations;
``masks_study``: paper B's runs and the mask analysis), and ``plan``: the runs every page
reads, as named jobs (``make runs``).
"""
