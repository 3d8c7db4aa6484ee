"""The data layer: every source yields :class:`~partnas_lib.data.sample.Sample` records.

* :mod:`~partnas_lib.data.sample` -- the record and its stacked form; :mod:`~partnas_lib.data.batches`
  and :mod:`~partnas_lib.data.transforms` turn arrays into augmented training batches;
* :mod:`~partnas_lib.data.images`, :mod:`~partnas_lib.data.detections`,
  :mod:`~partnas_lib.data.proportions` -- small shared helpers (boxes and crops, detector files,
  mean Human3.6M bone lengths);
* :mod:`partnas_lib.data.datasets` -- Human3.6M, MuPoTS-3D and MPII on disk;
* :mod:`partnas_lib.data.mocap` -- motion capture (BVH) as a pose source;
* :mod:`partnas_lib.data.synth` -- synthetic people, single- and multi-person;
* :mod:`~partnas_lib.data.splits` -- a config to the arrays of a split;
  :mod:`~partnas_lib.data.sanity` and :mod:`~partnas_lib.data.check` -- ``partnas data check``.
"""
