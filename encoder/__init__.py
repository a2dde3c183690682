"""Data and learning: audio preparation, labelling, datasets, models.

Importing this package is light: TensorFlow is imported only by the modules
that train or run Keras models.
"""
