"""Benchmarks behind ``sr-stream bench`` (torch-free): quality on the SR benchmark sets, speed per
frame and end to end, comparison grids and the results report.

:mod:`.methods` resolves what is measured (interpolation, sr-stream models, other projects'
models), :mod:`.quality` and :mod:`.speed` measure it, :mod:`.results` writes the files,
:mod:`.grid` draws crops side by side and :mod:`.report` turns a results folder into tables and
plots. ``benchmarks/suite.py`` runs the standard matrix with them.
"""
