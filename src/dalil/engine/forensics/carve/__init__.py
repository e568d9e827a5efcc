"""File carving: JPEG, PNG, GIF, PDF, ZIP/OOXML and SQLite from a whole image, one volume,
or unallocated space only; every carved file is validated (it decodes) and keeps its
offset in the image, its length, hashes and the image extents it came from.

One module per format (``jpeg``, ``png``, ``gif``, ``pdf``, ``zip``, ``sqlite``: header
signatures, an end finder from the format's own structure, a validator), ``space`` (what
is carved), ``search`` (the header search) and ``engine`` (the run, its audit, resume).
"""

from dalil.engine.forensics.carve.engine import (
    AUDIT_FILE,
    CHECKPOINT_FILE,
    FORMATS,
    MANIFEST_FILE,
    CarvedFile,
    CarveError,
    CarveOptions,
    CarveReport,
    carve,
    parse_types,
)
from dalil.engine.forensics.carve.space import Extent, Space, SpaceError

__all__ = [
    "AUDIT_FILE",
    "CHECKPOINT_FILE",
    "FORMATS",
    "MANIFEST_FILE",
    "CarveError",
    "CarveOptions",
    "CarveReport",
    "CarvedFile",
    "Extent",
    "Space",
    "SpaceError",
    "carve",
    "parse_types",
]
