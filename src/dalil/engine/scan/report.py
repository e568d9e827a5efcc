"""The DFXML report of a scan run (``report.xml``), as bulk_extractor writes one.

It records who made the output (``creator``: program, version, build and execution
environment, command line, start time), what was scanned (``source``: file name, size and,
when computed, its hash), how (``configuration``: scanners, page and margin sizes,
decompression limits), and what came out (``feature_files`` with the count of each, the
decompressed streams, the notes, unreadable regions, the pages not scanned because their
worker process died, and the run's duration). Elements
follow DFXML 1.x; the ``dalil:`` namespace holds what DFXML has no element for.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import platform
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dalil import __version__
from dalil.engine.scan.features import FeatureType

if TYPE_CHECKING:
    from dalil.engine.scan.runner import ScanSummary

DFXML_NS = "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"
DC_NS = "http://purl.org/dc/elements/1.1/"
DALIL_NS = "https://dalil.example/ns/scan"


def _sub(parent: ET.Element, tag: str, text: object = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = str(text)
    return element


def _hyperscan_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("hyperscan")
    except Exception:  # pragma: no cover - not installed
        return None


def build_dfxml(summary: ScanSummary, types: Sequence[FeatureType]) -> ET.ElementTree:
    ET.register_namespace("", DFXML_NS)
    ET.register_namespace("dc", DC_NS)
    ET.register_namespace("dalil", DALIL_NS)
    root = ET.Element(f"{{{DFXML_NS}}}dfxml", {"xmloutputversion": "1.0"})
    metadata = _sub(root, "metadata")
    _sub(metadata, f"{{{DC_NS}}}type", "Feature Extraction")

    creator = _sub(root, "creator", version="1.0")
    _sub(creator, "program", "Dalil")
    _sub(creator, "version", __version__)
    build = _sub(creator, "build_environment")
    _sub(build, "compiler", f"{platform.python_implementation()} {platform.python_version()}")
    if (hs := _hyperscan_version()) is not None:
        _sub(build, "library", name="hyperscan", version=hs)
    execution = _sub(creator, "execution_environment")
    uname = platform.uname()
    _sub(execution, "os_sysname", uname.system)
    _sub(execution, "os_release", uname.release)
    _sub(execution, "os_version", uname.version)
    _sub(execution, "host", socket.gethostname())
    _sub(execution, "arch", uname.machine)
    _sub(execution, "command_line", " ".join(summary.command_line))
    _sub(execution, "uid", os.getuid() if hasattr(os, "getuid") else "")
    with contextlib.suppress(KeyError, OSError):  # no user name: leave it out
        _sub(execution, "username", getpass.getuser())
    _sub(execution, "start_time", summary.started_at)
    _sub(execution, "python", sys.version.split()[0])

    source = _sub(root, "source")
    _sub(source, "image_filename", summary.input)
    _sub(source, "imagesize", summary.bytes_total)
    for algorithm, digest in summary.source_hashes.items():
        _sub(source, "hashdigest", digest, type=algorithm)
    if summary.files != 1:
        _sub(source, f"{{{DALIL_NS}}}files", summary.files)

    configuration = _sub(root, "configuration")
    scanners = _sub(configuration, "scanners")
    for ftype in types:
        _sub(scanners, "scanner", ftype.name)
    for key, value in summary.options.items():
        _sub(configuration, key, value)
    _sub(configuration, "engine", summary.engine)
    _sub(configuration, "jobs", summary.jobs)
    if summary.executor:
        _sub(configuration, f"{{{DALIL_NS}}}executor", summary.executor)
    for feed in summary.feeds:
        _sub(configuration, f"{{{DALIL_NS}}}indicator_feed",
             name=str(feed["name"]), format=str(feed["format"]),
             indicators=str(feed["indicators"]))

    feature_files = _sub(root, "feature_files")
    for name, count in summary.counts.items():
        _sub(feature_files, "feature_file", name=name, count=str(count))
    if summary.feeds:
        _sub(feature_files, "feature_file", name="alerts", count=str(summary.alert_count))

    scanner_stats = _sub(root, "scanner_stats")
    for name, count in summary.counts.items():
        stats = _sub(scanner_stats, "scanner_stat")
        _sub(stats, "name", name)
        _sub(stats, "features", count)

    recursion = _sub(root, f"{{{DALIL_NS}}}decompression", streams=str(summary.streams),
                     bytes=str(summary.bytes_decompressed))
    for note in summary.notes:
        _sub(recursion, f"{{{DALIL_NS}}}note", note["message"], path=note["path"])
    problems = _sub(root, f"{{{DALIL_NS}}}unreadable")
    for region in summary.unreadable:
        _sub(problems, "byte_run", region["error"], offset=str(region["offset"]),
             len=str(region["length"]), path=str(region["path"]))

    unscanned = _sub(root, f"{{{DALIL_NS}}}unscanned")
    for region in summary.unscanned:
        _sub(unscanned, "byte_run", region["reason"], offset=str(region["offset"]),
             len=str(region["length"]), path=str(region["path"]))

    report = _sub(root, "report")
    _sub(report, "start_time", summary.started_at)
    _sub(report, "end_time", summary.ended_at)
    _sub(report, "elapsed_seconds", f"{summary.seconds:.3f}")
    _sub(report, "bytes_scanned", summary.bytes_scanned)
    _sub(report, "mb_per_s", f"{summary.mb_per_s:.1f}")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_dfxml(path: Path, summary: ScanSummary, types: Sequence[FeatureType]) -> None:
    build_dfxml(summary, types).write(path, encoding="UTF-8", xml_declaration=True)
