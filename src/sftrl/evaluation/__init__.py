"""Evaluation: ID and OOD accuracy of a model or a checkpoint under the papers' protocol,
with Wilson intervals, cached by the checkpoint's content.
"""
