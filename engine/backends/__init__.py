"""Inference backends behind one small interface (``open -> infer(batch) -> close``).

:mod:`.probe` tells which backends this machine can run and why not, without importing their
runtimes' heavy parts.
"""
