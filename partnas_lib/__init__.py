"""partnas: part-aware monocular 3D human pose estimation by neural architecture search.

A teaching and reproduction package for Chen et al., "Towards Part-Aware Monocular 3D Human
Pose Estimation: An Architecture Search Approach", ECCV 2020.
"""

__version__ = "0.1.0"
