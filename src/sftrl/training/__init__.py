"""Training: the small model, the tiny chat model, runs on disk keyed by their configuration,
several processes training one run, and the three stages (pretraining, SFT and RL with trl's
trainers).

``model``, ``tiny_chat``, ``launch`` < ``runs`` < ``train``; ``cli`` adds ``python -m sftrl train``.
"""
