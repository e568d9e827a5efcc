"""Graders: one small function per task type, each turning (task, answer) into a ``Grade``.

A *task* is the plain dict of an answer key (``id``, ``grader``, ``answer``, ``points``,
``options``, ``hints``, ``max_attempts``); an *answer* is whatever a trainee submitted,
decoded from JSON. Graders never raise on a trainee's answer: a wrong type or a malformed
value is graded wrong with a message saying what was expected.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dalil.engine.evidence.custody import CustodyError, check_details
from dalil.engine.evidence.scene import missing_items


@dataclass(frozen=True)
class Grade:
    """The outcome of one task: ``score`` out of ``max``; ``needs_trainer`` for free text."""

    score: float
    max: float
    correct: bool
    feedback: str
    needs_trainer: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Grader = Callable[[Any, Any, Mapping[str, Any], float], Grade]
"""``grader(expected, answer, options, points) -> Grade``."""


def _wrong(points: float, feedback: str) -> Grade:
    return Grade(0.0, points, False, feedback)


def _right(points: float, feedback: str = "correct") -> Grade:
    return Grade(points, points, True, feedback)


def _partial(points: float, fraction: float, feedback: str) -> Grade:
    fraction = min(1.0, max(0.0, fraction))
    return Grade(round(points * fraction, 4), points, fraction >= 1.0, feedback)


# --- text --------------------------------------------------------------------------------


def normalise_text(value: str) -> str:
    """NFKC, case-folded, whitespace collapsed: "  Faraday\u00a0BAG " -> "faraday bag"."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def grade_text(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    if not isinstance(answer, str):
        return _wrong(points, f"expected a text answer, got {_type_name(answer)}")
    accepted = [str(expected), *[str(s) for s in options.get("synonyms", [])]]
    if options.get("exact"):
        ok = answer in accepted
    else:
        ok = normalise_text(answer) in {normalise_text(a) for a in accepted}
    return _right(points) if ok else _wrong(points, "not the expected answer")


# --- numeric -----------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ".").replace(" ", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def grade_numeric(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    value, target = _number(answer), _number(expected)
    if value is None:
        return _wrong(points, f"expected a number, got {_type_name(answer)} {answer!r}")
    if target is None:
        return _wrong(points, "the answer key holds no number for this task")
    tolerance = float(options.get("tolerance", 0))
    relative = float(options.get("relative_tolerance", 0))
    allowed = max(tolerance, abs(target) * relative)
    if abs(value - target) <= allowed:
        return _right(points)
    return _wrong(points, f"not within the tolerance of ±{allowed:g}")


# --- hashes ------------------------------------------------------------------------------

# Hex digest length -> the algorithms of that length that Dalil computes.
_HASH_LENGTHS: dict[int, tuple[str, ...]] = {
    32: ("md5",),
    40: ("sha1",),
    64: ("sha256", "sha3_256"),
    128: ("sha512", "blake2b"),
}
_HEX = re.compile(r"[0-9a-f]+")


def grade_hash(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    """Accept the digest of any algorithm the key holds; the answer's length names it."""
    if not isinstance(answer, str):
        return _wrong(points, f"expected a hex digest, got {_type_name(answer)}")
    text = "".join(answer.split()).lower()
    if ":" in text:  # "sha256:ab12..." as some tools print it
        text = text.split(":", 1)[1]
    if not _HEX.fullmatch(text):
        return _wrong(points, "a digest is written in hexadecimal (0-9, a-f)")
    digests = {k.lower(): str(v).lower() for k, v in dict(options.get("digests", {})).items()}
    if isinstance(expected, str):
        digests.setdefault(_HASH_LENGTHS.get(len(expected), ("sha256",))[0], expected.lower())
    algorithms = _HASH_LENGTHS.get(len(text))
    if algorithms is None:
        return _wrong(points, f"{len(text)} hex digits is not the length of an accepted digest "
                              f"(MD5 32, SHA-1 40, SHA-256 64, SHA-512 128)")
    known = [a for a in algorithms if a in digests]
    if not known:
        return _wrong(points, f"a {'/'.join(algorithms)} digest is not accepted here; "
                              f"accepted: {', '.join(sorted(digests))}")
    for algorithm in known:
        if digests[algorithm] == text:
            return _right(points, f"correct ({algorithm})")
    return _wrong(points, f"the {'/'.join(known)} digest does not match the evidence")


# --- timestamps --------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_instant(value: str, zone: ZoneInfo | None) -> tuple[datetime, bool]:
    """An aware datetime from ISO 8601 text, and whether the text carried its own offset.

    A naive time is read in ``zone`` (the template's declared time zone).
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        return moment, True
    if zone is None:
        raise ValueError("give the time with its UTC offset, e.g. 2025-04-12T10:37:00+05:00")
    return moment.replace(tzinfo=zone), False


def grade_timestamp(
    expected: Any, answer: Any, options: Mapping[str, Any], points: float
) -> Grade:
    """The same instant within the tolerance is right, whatever zone the trainee wrote it in."""
    if not isinstance(answer, str):
        return _wrong(points, f"expected an ISO 8601 time as text, got {_type_name(answer)}")
    zone_name = options.get("timezone")
    zone = _zone(str(zone_name) if zone_name else None)
    try:
        target, _ = parse_instant(str(expected), zone)
        given, had_offset = parse_instant(answer, zone)
    except ValueError as exc:
        return _wrong(points, f"not an ISO 8601 time ({exc}); e.g. 2025-04-12T10:37:00+05:00")
    tolerance = float(options.get("tolerance_seconds", 0))
    delta = (given.astimezone(UTC) - target.astimezone(UTC)).total_seconds()
    read_as = "with its offset" if had_offset else f"read as local time in {zone_name}"
    if abs(delta) <= tolerance:
        return _right(points, f"correct ({read_as})")
    off = abs(delta)
    if 1800 <= off <= 14 * 3600 and min(off % 1800, 1800 - off % 1800) <= tolerance:
        return _wrong(points, f"off by {delta / 3600:+g} h ({read_as}): check the time zone "
                              f"({zone_name}) and write the UTC offset, e.g. +05:00")
    return _wrong(points, f"not the expected time ({read_as}; tolerance {tolerance:g} s)")


# --- sets --------------------------------------------------------------------------------


def _set_item(value: Any) -> str:
    return normalise_text(value) if isinstance(value, str) else normalise_text(str(value))


def grade_set(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    """Precision and recall with partial credit: F1 by default, or recall weighted.

    ``options.scoring``: ``"f1"`` (harmonic mean of precision and recall) or ``"recall"``
    (recall times precision: missing items cost as much as with F1 but wrong extras only
    reduce the score by the share of wrong items among those given).
    """
    if not isinstance(answer, list):
        return _wrong(points, f"expected a list, got {_type_name(answer)}")
    mode = str(options.get("scoring", "f1"))
    want = {_set_item(v) for v in (expected or [])}
    given = {_set_item(v) for v in answer}
    hits = len(want & given)
    precision = hits / len(given) if given else (1.0 if not want else 0.0)
    recall = hits / len(want) if want else (1.0 if not given else 0.0)
    if want == given:
        fraction = 1.0
    elif mode == "recall":
        fraction = recall * precision
    else:
        fraction = 0.0 if precision + recall == 0 else 2 * precision * recall / (
            precision + recall)
    fraction = min(fraction, 0.9999) if want != given else 1.0
    label = "recall × precision" if mode == "recall" else "F1"
    feedback = (f"{hits} of {len(want)} expected items found, {len(given) - hits} not expected; "
                f"precision {precision:.2f}, recall {recall:.2f}, scored by {label}")
    return _partial(points, fraction, feedback)


# --- multiple choice ---------------------------------------------------------------------


def grade_choice(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    """The answer is the letter shown to the trainee (``"B"``) or the choice's id."""
    if not isinstance(answer, str):
        return _wrong(points, f"expected the letter of one choice, got {_type_name(answer)}")
    letters = {str(k).upper(): str(v) for k, v in dict(options.get("letters", {})).items()}
    given = answer.strip()
    chosen = letters.get(given.upper().rstrip(").").strip(), given)
    correct_id = letters.get(str(expected).upper(), str(expected))
    if normalise_text(chosen) == normalise_text(correct_id):
        return _right(points)
    if letters and given.upper() not in letters and chosen not in letters.values():
        return _wrong(points, f"{given!r} is not one of the choices {', '.join(sorted(letters))}")
    return _wrong(points, "not the right choice")


# --- ordering ----------------------------------------------------------------------------


def grade_ordering(
    expected: Any, answer: Any, options: Mapping[str, Any], points: float
) -> Grade:
    """Kendall-tau partial credit: the share of pairs the answer puts in the right order.

    With all items given once this is (tau + 1) / 2. ``options.ranks`` maps items to tiers;
    items of one tier (RFC 3227: "may be collected in any order") are not compared. A
    missing item loses every pair it belongs to.
    """
    if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
        return _wrong(points, "expected a list of item ids, most volatile first")
    want = [str(x) for x in (expected or [])]
    ranks_opt = dict(options.get("ranks", {}))
    ranks = {item: float(ranks_opt.get(item, i)) for i, item in enumerate(want)}
    position: dict[str, int] = {}
    for i, item in enumerate(answer):
        position.setdefault(item.strip(), i)
    unknown = [a for a in position if a not in ranks]
    missing = [w for w in want if w not in position]
    pairs = concordant = 0
    for i, a in enumerate(want):
        for b in want[i + 1:]:
            if ranks[a] == ranks[b]:
                continue
            pairs += 1
            first, second = (a, b) if ranks[a] < ranks[b] else (b, a)
            if first in position and second in position and position[first] < position[second]:
                concordant += 1
    fraction = concordant / pairs if pairs else (1.0 if not missing else 0.0)
    notes = [f"{concordant} of {pairs} pairs in the right order (Kendall tau partial credit)"]
    if missing:
        notes.append(f"missing: {', '.join(missing)}")
    if unknown:
        notes.append(f"not among the items: {', '.join(unknown)}")
    if fraction >= 1.0 and (missing or unknown):
        fraction = 0.9999
    return _partial(points, fraction, "; ".join(notes))


# --- rubric over a trainee's case record -------------------------------------------------


def _norm_id(value: Any) -> str:
    return re.sub(r"[\s\-:]", "", str(value or "")).lower()


_IDENTIFIERS = ("serial", "imei", "iccid")


def grade_rubric(expected: Any, answer: Any, options: Mapping[str, Any], points: float) -> Grade:
    """Score a trainee's case record (scene record, exhibits, custody) against the scene.

    ``options.devices`` lists the scene's devices (``id``, ``type``, ``identifier``,
    ``power_state``); ``options.isolation`` the expected isolation of the phone;
    ``options.image_device`` and ``options.image_sha256`` the device whose image must be
    acquired with that hash. Checks are weighted; the feedback names every failed one.
    """
    if not isinstance(answer, Mapping):
        return _wrong(points, f"expected a case record (an object), got {_type_name(answer)}")
    scene = answer.get("scene")
    exhibits_raw = answer.get("exhibits")
    custody_raw = answer.get("custody")
    if not isinstance(scene, Mapping) or not isinstance(exhibits_raw, list) or not isinstance(
            custody_raw, list):
        return _wrong(points, "a case record has 'scene' (object), 'exhibits' and 'custody' "
                              "(lists)")
    exhibits = [e for e in exhibits_raw if isinstance(e, Mapping)]
    custody = [c for c in custody_raw if isinstance(c, Mapping)]
    actions: dict[str, set[str]] = {}
    custody_problems: list[str] = []
    for entry in custody:
        number, action = str(entry.get("exhibit")), str(entry.get("action"))
        details = entry.get("details") if isinstance(entry.get("details"), Mapping) else {}
        try:
            check_details(action, details or {})
        except CustodyError as exc:
            custody_problems.append(f"exhibit {number}: {exc}")
            continue
        actions.setdefault(number, set()).add(action)

    checks: list[tuple[float, bool, str]] = []  # (weight, passed, message when failed)
    missing = missing_items(scene, exhibits, actions, bool(answer.get("case_has_authority")))
    checks.append((4.0, not missing, "scene record incomplete: " + "; ".join(
        f"{m.message} ({m.reference})" for m in missing[:6]) + (" …" if len(missing) > 6 else "")))
    checks.append((1.0, not custody_problems, "custody entries inconsistent: " + "; ".join(
        custody_problems[:4])))

    by_identifier: dict[str, Mapping[str, Any]] = {}
    exhibit: Mapping[str, Any] | None
    for exhibit in exhibits:
        for name in _IDENTIFIERS:
            if exhibit.get(name):
                by_identifier[_norm_id(exhibit[name])] = exhibit
    devices = [d for d in options.get("devices", []) if isinstance(d, Mapping)]
    for device in devices:
        label = f"{device.get('id')} ({device.get('type')})"
        exhibit = by_identifier.get(_norm_id(device.get("identifier")))
        checks.append((1.0, exhibit is not None,
                       f"{label}: no exhibit with its serial/IMEI/ICCID "
                       f"{device.get('identifier')}"))
        if exhibit is None:
            continue
        number = str(exhibit.get("number"))
        checks.append((1.0, exhibit.get("power_state") == device.get("power_state"),
                       f"{label}: power state recorded as {exhibit.get('power_state')!r}, "
                       f"found {device.get('power_state')!r} (ISO/IEC 27037 §7.1.3.2)"))
        checks.append((1.0, {"seized", "sealed"} <= actions.get(number, set()),
                       f"{label}: custody needs 'seized' and 'sealed' entries for exhibit "
                       f"{number} (ACPO principle 3)"))
        if device.get("type") == "phone" and options.get("isolation"):
            checks.append((1.0, exhibit.get("isolation_method") == options["isolation"],
                           f"{label}: isolation {exhibit.get('isolation_method')!r} is not the "
                           f"one this phone's state calls for"))
        if device.get("id") == options.get("image_device") and options.get("image_sha256"):
            recorded = {
                str(h).lower()
                for entry in custody
                if str(entry.get("exhibit")) == number and entry.get("action") == "acquired"
                and isinstance(entry.get("details"), Mapping)
                and isinstance(entry["details"].get("hashes"), Mapping)
                for h in entry["details"]["hashes"].values()
            }
            checks.append((2.0, str(options["image_sha256"]).lower() in recorded,
                           f"{label}: no 'acquired' custody entry whose hashes include the "
                           f"image's SHA-256"))
    total = sum(w for w, _, _ in checks)
    passed = sum(w for w, ok, _ in checks if ok)
    failures = [msg for _, ok, msg in checks if not ok]
    feedback = (f"{passed:g} of {total:g} rubric points"
                + ("" if not failures else ": " + " | ".join(failures)))
    return _partial(points, passed / total if total else 0.0, feedback)


# --- rubric over the trainee's own training case (built by the app) ---------------------

CRITERIA = ("scene", "devices", "custody", "acquisition", "seals")
"""The checks of ``case_records``, in the order a first responder works."""

DEFAULT_CUSTODY_ORDER = ("seized", "sealed", "transferred")


def _custody_order_problems(
    number: str, actions: Sequence[str], required: Sequence[str]
) -> list[str]:
    """Why one exhibit's custody entries (in chain order) lack or misorder required actions."""
    problems: list[str] = []
    first_at = {a: actions.index(a) for a in required if a in actions}
    missing = [a for a in required if a not in first_at]
    if missing:
        problems.append(f"exhibit {number}: no {', '.join(repr(m) for m in missing)} custody "
                        f"entry (ACPO principle 3; ISO/IEC 27037 §6.1)")
    present = [a for a in required if a in first_at]
    for earlier, later in itertools.pairwise(present):
        if first_at[later] < first_at[earlier]:
            problems.append(f"exhibit {number}: {later!r} is recorded before {earlier!r}; the "
                            f"chain must read {' → '.join(required)} (ISO/IEC 27037 §6.1)")
    return problems


def grade_case_records(
    expected: Any, answer: Any, options: Mapping[str, Any], points: float
) -> Grade:
    """Score the records a trainee kept in their own training case, criterion by criterion.

    The answer is a *records summary* the app builds from the trainee's case (never typed
    by the trainee): ``{"scene": {field: value} | None, "exhibits": [...], "custody":
    [{"exhibit", "action", "details"}, ...] (chain order), "case_has_authority": bool,
    "verification": {"intact": bool, "first_failure": str | None}}`` (verification is
    optional; when given, a broken case fails the acquisition criterion).

    ``options.criteria`` chooses the checks (default all of :data:`CRITERIA`);
    ``options.custody_order`` the actions every seized device needs, in order;
    ``options.devices``, ``options.isolation`` and ``options.image_sha256`` come from the
    scene's ground truth. Each criterion earns its share; the feedback names what is missing
    with its ACPO, ISO/IEC 27037 or RFC 3227 reference.
    """
    if not isinstance(answer, Mapping):
        return _wrong(points, f"expected the summary of a case's records (an object), got "
                              f"{_type_name(answer)}")
    scene = answer.get("scene")
    exhibits_raw = answer.get("exhibits")
    custody_raw = answer.get("custody")
    if not isinstance(exhibits_raw, list) or not isinstance(custody_raw, list) or not (
            scene is None or isinstance(scene, Mapping)):
        return _wrong(points, "a records summary has 'scene' (an object or null), 'exhibits' "
                              "and 'custody' (lists)")
    exhibits = [e for e in exhibits_raw if isinstance(e, Mapping)]
    custody = [c for c in custody_raw if isinstance(c, Mapping)]
    chosen = options.get("criteria") or list(CRITERIA)
    criteria = [c for c in CRITERIA if c in chosen]
    order = [str(a) for a in options.get("custody_order") or DEFAULT_CUSTODY_ORDER]

    sequence: dict[str, list[str]] = {}
    actions: dict[str, set[str]] = {}
    incomplete: list[str] = []
    for entry in custody:
        number, action = str(entry.get("exhibit") or ""), str(entry.get("action"))
        details = entry.get("details") if isinstance(entry.get("details"), Mapping) else {}
        try:
            check_details(action, details or {})
        except CustodyError as exc:
            incomplete.append(f"exhibit {number or '-'}: {exc}")
            continue
        sequence.setdefault(number, []).append(action)
        actions.setdefault(number, set()).add(action)
    originals = [e for e in exhibits if not e.get("parent")]
    by_identifier: dict[str, Mapping[str, Any]] = {}
    for exhibit in originals:
        for name in _IDENTIFIERS:
            if exhibit.get(name):
                by_identifier[_norm_id(exhibit[name])] = exhibit
    devices = [d for d in options.get("devices", []) or [] if isinstance(d, Mapping)]

    checks: list[tuple[float, bool, str]] = []  # (weight, passed, what is missing)
    if "scene" in criteria:
        if scene is None:
            checks.append((4.0, False, "no scene record yet: fill in the scene record of your "
                                       "training case (ISO/IEC 27037 §7.1; NIJ ch. 3)"))
        else:
            missing = missing_items(scene, originals, actions,
                                    bool(answer.get("case_has_authority")))
            checks.append((4.0, not missing, "scene record incomplete: " + "; ".join(
                f"{m.message} ({m.reference})" for m in missing[:8])
                + (f" … and {len(missing) - 8} more" if len(missing) > 8 else "")))
    if "devices" in criteria:
        for device in devices:
            label = f"{device.get('id')} ({device.get('type')})"
            found = by_identifier.get(_norm_id(device.get("identifier")))
            if found is None:
                checks.append((1.0, False, f"{label}: no exhibit with its serial/IMEI/ICCID "
                                           f"(ISO/IEC 27037 §7.1.2)"))
                continue
            exhibit = found
            state = exhibit.get("power_state")
            checks.append((1.0, state == device.get("power_state"),
                           f"{label}: power state recorded as {state or 'nothing'!r}, not as "
                           f"found (ISO/IEC 27037 §7.1.3.2; ACPO principle 2)"))
            if device.get("type") == "phone" and options.get("isolation"):
                checks.append((1.0, exhibit.get("isolation_method") == options["isolation"],
                               f"{label}: isolation {exhibit.get('isolation_method') or 'none'!r}"
                               f" does not suit the phone's state (ISO/IEC 27037 §7.1.3.3)"))
    if "custody" in criteria:
        seized = [str(e.get("number")) for e in originals]
        if devices:
            seized = [str(by_identifier[k].get("number")) for k in
                      (_norm_id(d.get("identifier")) for d in devices) if k in by_identifier]
        problems = [p for n in seized for p in _custody_order_problems(
            n, sequence.get(n, []), order)]
        if not seized:
            problems.append("no seized device recorded as an exhibit (ISO/IEC 27037 §7.1.2)")
        checks.append((2.0, not problems, "custody: " + "; ".join(problems[:6])
                       + (f" … and {len(problems) - 6} more" if len(problems) > 6 else "")))
        checks.append((1.0, bool(seized) and not incomplete, "custody entries incomplete: "
                       + "; ".join(incomplete[:4]) if incomplete else
                       "no custody entry to check (ACPO principle 3)"))
    if "acquisition" in criteria:
        want = str(options.get("image_sha256") or expected or "").lower()
        acquired = [e for e in custody if e.get("action") == "acquired"
                    and isinstance(e.get("details"), Mapping)]
        recorded = [e for e in acquired if isinstance(e["details"].get("hashes"), Mapping)
                    and want in {str(h).lower() for h in e["details"]["hashes"].values()}]
        checks.append((2.0, bool(recorded),
                       "no acquisition whose recorded hashes include the image's SHA-256: "
                       "acquire the drive's image read-only with hashing (ACPO principle 1; "
                       "ISO/IEC 27037 §7.1.3.4)" if not acquired else
                       "the hashes recorded by the acquisition do not match the image's "
                       "SHA-256 (ISO/IEC 27037 §7.1.3.4)"))
        verified = any(e["details"].get("verified") is True for e in recorded) or any(
            c.get("action") == "verified" and isinstance(c.get("details"), Mapping)
            and c["details"].get("match") is True
            and str(c["details"].get("expected", "")).lower() == want for c in custody)
        checks.append((1.0, verified, "the acquired image's hash was not verified against "
                                      "the source (ISO/IEC 27037 §7.1.3.4; ACPO principle 3)"))
        report = answer.get("verification")
        if isinstance(report, Mapping) and acquired:
            checks.append((1.0, report.get("intact") is True,
                           f"the case does not verify: {report.get('first_failure')} "
                           f"(RFC 3227 §4; ACPO principle 3)"))
    if "seals" in criteria:
        unsealed = [str(e.get("number")) for e in originals if not e.get("seal_number")]
        mismatched = [str(e.get("number")) for e in originals if e.get("seal_number")
                      and not any(c.get("action") in ("sealed", "transferred")
                                  and str(c.get("exhibit")) == str(e.get("number"))
                                  and isinstance(c.get("details"), Mapping)
                                  and e.get("seal_number") in (c["details"].get("seal_number"),
                                                               c["details"].get("new_seal"))
                                  for c in custody)]
        checks.append((1.0, bool(originals) and not unsealed,
                       "no seal number recorded for exhibit(s) " + ", ".join(unsealed)
                       + " (ISO/IEC 27037 §7.1.4)" if originals else
                       "no exhibit to seal (ISO/IEC 27037 §7.1.4)"))
        checks.append((1.0, bool(originals) and not mismatched,
                       "seal number of exhibit(s) " + ", ".join(mismatched)
                       + " is in no 'sealed' custody entry (ISO/IEC 27037 §7.1.4)"))
    total = sum(w for w, _, _ in checks)
    passed = sum(w for w, ok, _ in checks if ok)
    failures = [msg for _, ok, msg in checks if not ok]
    feedback = (f"{passed:g} of {total:g} rubric points"
                + ("" if not failures else ": " + " | ".join(failures)))
    return _partial(points, passed / total if total else 0.0, feedback)


# --- free text ---------------------------------------------------------------------------


def grade_free_text(
    expected: Any, answer: Any, options: Mapping[str, Any], points: float
) -> Grade:
    if not isinstance(answer, str) or not answer.strip():
        return _wrong(points, "no answer given")
    return Grade(0.0, points, False, "awaits a trainer's grading against the rubric",
                 needs_trainer=True)


GRADERS: dict[str, Grader] = {
    "text": grade_text,
    "numeric": grade_numeric,
    "hash": grade_hash,
    "timestamp": grade_timestamp,
    "set": grade_set,
    "choice": grade_choice,
    "ordering": grade_ordering,
    "rubric": grade_rubric,
    "case_records": grade_case_records,
    "free_text": grade_free_text,
}


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "nothing"}.get(type(value), type(value).__name__)


def grade_task(
    task: Mapping[str, Any], answer: Any, *, hints_used: int = 0, attempt: int = 1
) -> Grade:
    """Grade one answer to one task of an answer key; never raises on the answer.

    Hints cost their ``cost`` points each, charged only when the task is solved; an
    attempt beyond ``max_attempts`` scores nothing.
    """
    points = float(task.get("points", 0))
    grader = GRADERS.get(str(task.get("grader")))
    if grader is None:
        return _wrong(points, f"unknown grader {task.get('grader')!r} in the answer key")
    limit = task.get("max_attempts")
    if isinstance(limit, int) and not isinstance(limit, bool) and attempt > limit:
        return _wrong(points, f"attempt limit reached ({limit})")
    options = task.get("options") if isinstance(task.get("options"), Mapping) else {}
    grade = grader(task.get("answer"), answer, options or {}, points)
    hints: Sequence[Any] = task.get("hints") or []
    used = max(0, min(int(hints_used), len(hints)))
    if used and grade.score > 0:
        cost = sum(float(h.get("cost", 0)) for h in hints[:used] if isinstance(h, Mapping))
        score = max(0.0, grade.score - cost)
        return Grade(round(score, 4), grade.max, grade.correct,
                     f"{grade.feedback}; {used} hint(s) used: -{cost:g}", grade.needs_trainer)
    return grade


def grade_answers(
    key: Mapping[str, Any],
    answers: Any,
    hints: Mapping[str, Any] | None = None,
    attempts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Grade a whole answer set: ``{"score", "max", "tasks": [...], "unknown": [...]}``."""
    tasks = [t for t in key.get("tasks", []) if isinstance(t, Mapping)]
    given = answers if isinstance(answers, Mapping) else {}
    hints = hints if isinstance(hints, Mapping) else {}
    attempts = attempts if isinstance(attempts, Mapping) else {}
    rows: list[dict[str, Any]] = []
    for task in tasks:
        task_id = str(task.get("id"))
        if task_id not in given:
            grade = _wrong(float(task.get("points", 0)), "not answered")
        else:
            grade = grade_task(task, given[task_id], hints_used=_count(hints.get(task_id)),
                               attempt=max(1, _count(attempts.get(task_id), 1)))
        rows.append({"id": task_id, **grade.to_dict()})
    known = {str(t.get("id")) for t in tasks}
    unknown = sorted(str(k) for k in given if str(k) not in known)
    for task_id in unknown:
        rows.append({"id": task_id, "score": 0.0, "max": 0.0, "correct": False,
                     "feedback": "no such task in this lab", "needs_trainer": False})
    return {
        "score": round(sum(r["score"] for r in rows), 4),
        "max": round(sum(r["max"] for r in rows), 4),
        "tasks": rows,
        "unknown": unknown,
    }


def _count(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(0, value)


__all__ = [
    "CRITERIA",
    "GRADERS",
    "Grade",
    "grade_answers",
    "grade_task",
    "normalise_text",
    "parse_instant",
]
