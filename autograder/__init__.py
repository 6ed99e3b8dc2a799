"""Instructor-side package of the sparse autoencoder course (never released to students).

- ``autograder.reference``: the reference solution of every graded function.
- ``autograder.data``: the whitened natural images, built from scikit-image's photographs.
- ``autograder.features``: the reference training and the learned-features picture.
- ``autograder.filters``: numbers that say whether learned filters are edge detectors.
- ``python -m autograder --help``: the instructors' command line.
"""

__version__ = "0.1.0"
