"""Real datasets on disk: Human3.6M (three layouts), MuPoTS-3D (two layouts) and MPII.

Each dataset has an entry module (:mod:`~partnas_lib.data.datasets.h36m`,
:mod:`~partnas_lib.data.datasets.mupots`, :mod:`~partnas_lib.data.datasets.mpii`) that detects
the layout and loads it into :class:`~partnas_lib.data.sample.SampleArrays`; each layout has a
module of its own, and the facts the layouts of a dataset share live in its ``*_facts`` module.
"""
