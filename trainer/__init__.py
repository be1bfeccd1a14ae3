"""Training (``srstream.trainer``): recipes, data and degradations, losses, loop, checkpoints.

Needs ``pip install 'sr-stream[train]'`` (torch).
"""
