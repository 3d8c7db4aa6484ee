"""Data sources that all yield :class:`~partnas_lib.data.sample.Sample` records."""
