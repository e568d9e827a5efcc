"""Feature scanner: find and validate emails, URLs, phones, cards, IBANs, wallets, onions.

Pure Python (Hyperscan as an optional accelerator); never imports Django. Entry point:
:func:`dalil.engine.scan.runner.scan`.
"""

from dalil.engine.scan.features import FEATURE_TYPES, FeatureType, select
from dalil.engine.scan.runner import ScanError, ScanSummary, scan, scan_reader

__all__ = ["FEATURE_TYPES", "FeatureType", "ScanError", "ScanSummary", "scan", "scan_reader",
           "select"]
