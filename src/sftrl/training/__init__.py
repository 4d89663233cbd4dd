"""Training: the small model, runs on disk keyed by their configuration, and the three stages
(pretraining, SFT and RL with trl's trainers).

``model``, ``runs`` < ``train``; ``cli`` adds ``python -m sftrl train``.
"""
