"""Instructor-side package of the sparse autoencoder course (never released to students).

- ``autograder.reference``: the reference solution of every graded function.
- ``autograder.data``: the whitened natural images, built from scikit-image's photographs.
- ``autograder.features``: the reference training and the learned-features picture.
- ``autograder.filters``: numbers that say whether learned filters are edge detectors.
- ``python -m autograder --help``: the instructors' command line.
"""

import sys

__version__ = "0.1.0"

# jsonschema, imported by nbformat, tries the optional rfc3987_syntax for its "iri" formats; that
# package compiles a Lark grammar at import: 2.7 s here, in every grading process, for a format
# no notebook schema uses. Tell jsonschema it is absent (it then skips those formats, as documented).
sys.modules.setdefault("rfc3987_syntax", None)
