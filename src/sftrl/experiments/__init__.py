"""Experiments: one module per figure, each with a ``data(cfg, ...)`` function that returns
what its page draws and its claims are judged on (``figure1`` .. ``figure7``), over the
shared studies they read (``spectral_study``: the four models and their edits;
``masks_study``: paper B's runs and mask analysis; ``study_log``: ``make study``).
"""
