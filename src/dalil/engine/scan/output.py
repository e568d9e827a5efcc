"""bulk_extractor's feature-file format, histograms and the JSON report of a run.

A feature file ``<type>.txt`` starts with ``#`` header lines, then one line per hit:
``offset<TAB>feature<TAB>context``, where the context is the feature with 16 bytes on
each side. Bytes outside printable ASCII, and the backslash, are written ``\\xHH``.
``<type>_histogram.txt`` lists each distinct feature with its count (``n=COUNT<TAB>feature``),
most frequent first. ``alerts.txt`` (when indicators were given) repeats each hit that
matches a known indicator with three more columns: the hit's type, the feed and the
indicator. ``report.json`` summarises the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from dalil import __version__
from dalil.engine.scan.features import FeatureType
from dalil.engine.scan.indicators import Alert

_ESCAPE = [chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in range(256)]
_CASE_FOLDED = {"email", "domain"}


_PLAIN = bytes(b for b in range(32, 127) if b != 92)


def escape(data: bytes) -> str:
    """Printable ASCII as is; every other byte (and the backslash) as ``\\xHH``."""
    if not data.translate(None, _PLAIN):  # nothing to escape (C speed)
        return data.decode("ascii")
    return "".join([_ESCAPE[b] for b in data])


def _cell(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


class FeatureWriter:
    """Writes the feature files of one run and counts hits for the histograms."""

    def __init__(self, outdir: Path, types: Sequence[FeatureType], source: str,
                 alerts: bool = False) -> None:
        outdir.mkdir(parents=True, exist_ok=True)
        self.outdir = outdir
        self.types = list(types)
        self.source = source
        self._files: dict[str, IO[str]] = {}
        self._histograms: dict[str, Counter[str]] = {t.name: Counter() for t in types}
        for ftype in types:
            handle = open(outdir / ftype.filename, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            handle.write(
                "# BANNER FILE NOT PROVIDED (-b option)\n"
                f"# Dalil-Version: {__version__}\n"
                f"# Feature-Recorder: {ftype.name}\n"
                f"# Feature-Description: {ftype.description}\n"
                f"# Filename: {source}\n"
                "# Feature-File-Version: 1.1\n"
            )
            self._files[ftype.name] = handle
        self._alerts: IO[str] | None = None
        if alerts:
            self._alerts = open(outdir / "alerts.txt", "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._alerts.write(
                "# BANNER FILE NOT PROVIDED (-b option)\n"
                f"# Dalil-Version: {__version__}\n"
                "# Feature-Recorder: alerts\n"
                "# Feature-Description: hits that match a known indicator\n"
                f"# Filename: {source}\n"
                "# Feature-File-Version: 1.1\n"
                "# offset\tfeature\tcontext\ttype\tfeed\tindicator\n"
            )

    def alert(self, alert: Alert) -> None:
        assert self._alerts is not None, "writer opened without alerts"
        self._alerts.write(f"{alert.where}\t{alert.feature}\t{alert.context}\t{alert.type}\t"
                           f"{_cell(alert.feed)}\t{_cell(alert.indicator)}\n")

    def add(self, name: str, offset: str, feature: str, context: str) -> None:
        self._files[name].write(f"{offset}\t{feature}\t{context}\n")
        key = feature.lower() if name in _CASE_FOLDED else feature
        self._histograms[name][key] += 1

    def close(self, report: Callable[[], dict[str, object]] | None = None) -> dict[str, int]:
        """Close the feature files, write the histograms and ``report.json``; the counts."""
        counts: dict[str, int] = {}
        if self._alerts is not None:
            self._alerts.close()
        for name, handle in self._files.items():
            handle.close()
            histogram = self._histograms[name]
            counts[name] = sum(histogram.values())
            with open(self.outdir / f"{name}_histogram.txt", "w", encoding="utf-8",
                      newline="\n") as out:
                out.write(f"# Feature-Recorder: {name}\n# Filename: {self.source}\n")
                for feature, n in sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0])):
                    out.write(f"n={n}\t{feature}\n")
        if report is not None:
            document = report()
            document["counts"] = counts
            (self.outdir / "report.json").write_text(
                json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return counts
