"""The feature types: a regular expression, a prefilter pattern and a validator for each.

Each :class:`FeatureType` has

- ``regex``: the exact extraction pattern (Python ``re`` over bytes, lookarounds allowed);
- ``prefilter``: a Hyperscan pattern that matches inside *every* match of ``regex``
  (``regex`` with its lookarounds dropped and its bounds loosened). Hyperscan only says
  where such matches end; ``regex`` then runs over a window around each end, which gives
  the same matches as running ``regex`` over the whole buffer (see :mod:`.prefilter`);
- ``validate``: given the buffer and a match, the feature's final span and text, or None.
  It may look at the bytes around the match (never further than ``CONTEXT`` bytes).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from dalil.engine.scan.validators import cards, crypto, iban, kz_iin, onion, pgp, phone

Span = tuple[int, int, str]
"""(start, end, feature text) of a validated feature inside the buffer."""

Validator = Callable[[bytes, int, int], "Span | None"]

CONTEXT = 16
"""Bytes of context written on each side of a feature (as bulk_extractor does)."""


@dataclass(frozen=True)
class FeatureType:
    name: str
    regex: re.Pattern[bytes]
    prefilter: bytes
    max_length: int
    validate: Validator
    description: str
    before: int = -1
    """Bound on how far a match may start before the end of some prefilter match inside
    it (-1: ``max_length``)."""
    after: int = -1
    """Bound on how far that match may end after that same prefilter end (-1: ``max_length``)."""
    run: bytes | None = None
    """A character class (regex syntax) that every byte of every match belongs to, when
    there is a narrow one: the Hyperscan engine then runs the regex only over the run of
    such bytes around each prefilter end (within ``before``/``after``), not the whole
    window. A match cannot extend past the run, so it finds the same matches."""
    covered_by: str | None = None
    """A type whose prefilter matches inside every match of this type's regex, ending
    where this type's prefilter would: when both are selected, this type's windows come
    from that type's prefilter matches and its own pattern is left out of the database."""

    @property
    def filename(self) -> str:
        return f"{self.name}.txt"


def _text(buf: bytes, start: int, end: int) -> str:
    return buf[start:end].decode("latin-1")


def _before(buf: bytes, start: int, n: int) -> bytes:
    return buf[max(0, start - n) : start]


# ---------------------------------------------------------------- email, URL, domain, IP

_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|name|pro|mobi|io|co|me|tv|cc|app|dev|xyz|online|"
    "site|shop|top|club|onion|uk|de|fr|nl|be|ch|at|it|es|pt|pl|cz|sk|se|no|dk|fi|ie|gr|ro|bg|"
    "hu|ua|by|ru|su|kz|kg|tj|tm|uz|az|am|ge|md|lt|lv|ee|tr|ir|af|pk|in|cn|jp|kr|tw|hk|sg|my|"
    "id|th|vn|ph|au|nz|ca|us|mx|br|ar|cl|za|eg|ae|sa|il|qa"
)

EMAIL_RE = re.compile(
    rb"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    rb"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}"
    rb"(?![A-Za-z0-9\-])"
)


KNOWN_TLDS = frozenset(_TLDS.split("|"))


def _email(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    local, host = text.split("@", 1)
    if ".." in local or local.endswith("."):
        return None
    if not (host.islower() or host.isupper()):
        return None  # mixed-case host names are the usual false hit in binary data
    tld = host.rsplit(".", 1)[1]
    # A top-level domain outside the common list must look like one (4+ letters, one
    # case): two random letters after a dot are the usual false hit in binary data.
    if tld.lower() not in KNOWN_TLDS and not (len(tld) >= 4 and (tld.islower() or tld.isupper())):
        return None
    return start, end, text


URL_RE = re.compile(
    rb"(?i:https?|ftp)://[A-Za-z0-9\-._~:/?#@!$&*+;=%]{4,2048}"
)
_URL_TRAILING = ".,:;!?"
_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}|"
    r"(?:\d{1,3}\.){3}\d{1,3}|localhost"
)


def _url(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end).rstrip(_URL_TRAILING)
    rest = text.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    if ":" in host:
        host, port = host.split(":", 1)
        if port and (not port.isdigit() or int(port) > 65535):
            return None
    if not _HOST_RE.fullmatch(host):
        return None
    return start, start + len(text), text


DOMAIN_RE = re.compile(
    rb"(?<![A-Za-z0-9\-.])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}"
    rb"(?i:" + _TLDS.encode() + rb")(?![A-Za-z0-9\-])"
)


def _domain(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    first = text.split(".", 1)[0]
    if first.isdigit():
        return None  # part of a dotted number, not a host name
    if not (text.islower() or text.isupper()):
        return None  # mixed case: the usual false hit in binary data
    return start, end, text


IPV4_RE = re.compile(
    rb"(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    rb"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9]|\.[0-9])"
)
IPV6_RE = re.compile(
    rb"(?<![0-9A-Fa-f:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])"
)


def _ip(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    if ":" not in text:
        address = ipaddress.IPv4Address(text)
        if address.is_unspecified:
            return None
        return start, end, text
    if sum(c != ":" for c in text) < 4 or len([g for g in text.split(":") if g]) < 3:
        return None
    if not (text.islower() or text.isupper() or text.replace(":", "").isdigit()):
        return None
    try:
        v6 = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    if v6.is_unspecified or v6.is_loopback:
        return None
    return start, end, text


IP_RE = re.compile(IPV4_RE.pattern + rb"|" + IPV6_RE.pattern)

# ---------------------------------------------------------------- telephone

_SEP = rb"[ \-.]"
TELEPHONE_RE = re.compile(
    # international: +CC then groups, possibly one group in parentheses
    rb"(?<![A-Za-z0-9+])\+[1-9][0-9]{0,3}(?:" + _SEP + rb"?(?:\([0-9]{1,5}\)|[0-9]{1,10})){1,7}"
    rb"(?![0-9])"
    # national, first-class countries: trunk prefix 8 (KZ, RU, TM) or 0 (KG)
    rb"|(?<![A-Za-z0-9+])(?:"
    rb"8[ \-]?(?:\([0-9]{3}\)|[0-9]{3})[ \-]?[0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{2}"
    rb"|8[ \-]?(?:\([0-9]{4}\)|[0-9]{4})[ \-]?[0-9]{2}[ \-]?[0-9]{2}[ \-]?[0-9]{2}"
    rb"|8[ \-]?(?:\([0-9]{2,3}\)|[0-9]{2,3})[ \-]?[0-9]{2}[ \-]?[0-9]{2}[ \-]?[0-9]{2}"
    rb"|0[ \-]?(?:\([0-9]{3}\)|[0-9]{3})[ \-]?(?:[0-9]{3}[ \-]?[0-9]{3}"
    rb"|[0-9]{2}[ \-]?[0-9]{2}[ \-]?[0-9]{2}))(?![0-9])"
)


def _adjacent_digit_before(buf: bytes, start: int) -> bool:
    """The match is the tail of a longer number: a digit or '+' right before it, or a group
    of three or more digits before one separator (a stray digit or two is a neighbour)."""
    before = _before(buf, start, 4)
    if not before:
        return False
    if 48 <= before[-1] <= 57 or before[-1] == 43:
        return True
    return (len(before) == 4 and before[-1] in b" -.()"
            and all(48 <= b <= 57 for b in before[:3]))


def _group_after(buf: bytes, end: int, digits: int = 3, seps: bytes = b" -") -> bool:
    """Another group of ``digits`` or more digits follows after one separator."""
    after = buf[end : end + 1 + digits]
    return (len(after) == 1 + digits and after[0] in seps
            and all(48 <= b <= 57 for b in after[1:]))


def _telephone(buf: bytes, start: int, end: int) -> Span | None:
    if _adjacent_digit_before(buf, start):
        return None
    text = _text(buf, start, end)
    if text.startswith("+"):
        check = phone.international
        if _group_after(buf, end, 2, b"-"):
            return None  # 123-456-... continues with a dash: part of something longer
    else:
        check = phone.national
        if _group_after(buf, end, 2):
            return None  # more digit groups follow: part of a longer number
    # A number followed by a space and unrelated digits: drop trailing groups until it fits.
    while True:
        if check(text) is not None:
            return start, start + len(text), text
        cut = max(text.rfind(" "), text.rfind("-"), text.rfind("."))
        if cut <= 1:
            return None
        text = text[:cut]
        if text.endswith((" ", "-", ".", "(")):
            return None


# ---------------------------------------------------------------- cards, IBAN, IIN

CCN_RE = re.compile(
    rb"(?<![0-9+])(?:[0-9]{12,19}"
    rb"|[0-9]{4}(?P<s>[ \-])[0-9]{4}(?P=s)[0-9]{4}(?P=s)[0-9]{4}(?:(?P=s)[0-9]{1,3})?"
    rb"|[0-9]{4}(?P<t>[ \-])[0-9]{6}(?P=t)[0-9]{4,5})(?![0-9])"
)


def _ccn(buf: bytes, start: int, end: int) -> Span | None:
    if _adjacent_digit_before(buf, start):
        return None
    text = _text(buf, start, end)
    grouped = not text.isdigit()
    if grouped and _group_after(buf, end, 4, text[4].encode()):
        return None  # more groups of the same kind follow: not a card number on its own
    if cards.valid_card(text.replace(" ", "").replace("-", "")):
        return start, end, text
    if grouped and len(text) > 19:
        # 4-4-4-4 and a stray digit group: the card may be the first 16 digits alone.
        head = text[:19]
        if cards.valid_card(head.replace(text[4], "")):
            return start, start + 19, head
    return None


IBAN_RE = re.compile(
    rb"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}(?: ?[A-Z0-9]){7,26}(?![A-Za-z0-9])"
)
"""The first four characters after the check digits are written together, as every IBAN
format groups them: a prefilter with an optional space between every character cost a
third of the Hyperscan pass on random bytes."""


def _iban(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    length = iban.IBAN_LENGTHS.get(text[:2])
    if length is None:
        return None
    # Keep exactly `length` characters; what follows must be a separate word.
    count = 0
    for i, ch in enumerate(text):
        if ch != " ":
            count += 1
        if count == length:
            candidate = text[: i + 1]
            rest = text[i + 1 :]
            if rest and not rest.startswith(" "):
                return None
            return (start, start + i + 1, candidate) if iban.valid_iban(candidate) else None
    return None


KZ_IIN_RE = re.compile(rb"(?<![0-9])[0-9]{12}(?![0-9])")


def _kz_iin(buf: bytes, start: int, end: int) -> Span | None:
    if _adjacent_digit_before(buf, start):
        return None
    text = _text(buf, start, end)
    return (start, end, text) if kz_iin.valid_kz_iin(text) else None


# ---------------------------------------------------------------- crypto and onion

_B58 = rb"[1-9A-HJ-NP-Za-km-z]"
_B32 = rb"[02-9ac-hj-np-z]"
BITCOIN_RE = re.compile(
    rb"(?<![A-Za-z0-9])(?:[13]" + _B58 + rb"{25,34}|bc1" + _B32
    + rb"{11,71}|BC1[02-9AC-HJ-NP-Z]{11,71})"
    rb"(?![A-Za-z0-9])"
)
LITECOIN_RE = re.compile(
    rb"(?<![A-Za-z0-9])(?:[LM]" + _B58 + rb"{25,34}|ltc1" + _B32
    + rb"{11,71}|LTC1[02-9AC-HJ-NP-Z]{11,71})"
    rb"(?![A-Za-z0-9])"
)
TRON_RE = re.compile(rb"(?<![A-Za-z0-9])T" + _B58 + rb"{33}(?![A-Za-z0-9])")
ETHEREUM_RE = re.compile(rb"(?<![A-Za-z0-9])0[xX][0-9a-fA-F]{40}(?![A-Za-z0-9])")
MONERO_RE = re.compile(
    rb"(?<![A-Za-z0-9])[48]" + _B58 + rb"{94}(?:" + _B58 + rb"{11})?(?![A-Za-z0-9])"
)
TELEGRAM_RE = re.compile(
    rb"(?<![A-Za-z0-9\-.])(?:(?i:https?://)?(?i:www\.)?(?i:t\.me|telegram\.me|telegram\.dog)/"
    rb"(?:joinchat/|\+|s/)?[A-Za-z0-9_]{5,64}|tg://resolve\?domain=[A-Za-z0-9_]{5,32})"
)


CRYPTO_PREFILTER = _B58 + rb"{26}|(?i:bc1|ltc1)[02-9ac-hj-np-zA-Z]{11}"
"""One prefilter for the four base58/bech32 address types: every base58 address has 26
base58 characters in a row (``[13]`` + 25 cost Hyperscan four times as much on random
bytes: a leading class before a long repeat), every bech32 one its prefix and 11 more."""


def _checked(check: Callable[[str], bool]) -> Validator:
    def validate(buf: bytes, start: int, end: int) -> Span | None:
        text = _text(buf, start, end)
        return (start, end, text) if check(text) else None

    return validate


def _onion(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    return (start, end, text) if onion.valid_onion_v3(text) else None


def _onion_v2(buf: bytes, start: int, end: int) -> Span | None:
    text = _text(buf, start, end)
    return (start, end, text) if onion.valid_onion_v2(text) else None


ONION_V2_RE = re.compile(rb"(?<![A-Za-z0-9\-])[a-z2-7]{16}\.(?i:onion)(?![A-Za-z0-9\-])")
ONION_V3_RE = re.compile(
    rb"(?<![A-Za-z0-9\-])(?:[a-z2-7]{56}|[A-Z2-7]{56})\.(?i:onion)(?![A-Za-z0-9\-])"
)


def _telegram(buf: bytes, start: int, end: int) -> Span | None:
    return start, end, _text(buf, start, end)


# ---------------------------------------------------------------- PGP

PGP_BLOCK_MAX = 32 * 1024
"""Longest armoured key block looked for (a 4096-bit key with a few signatures: ~8 KiB)."""
_PGP_BEGIN = rb"-----BEGIN PGP PUBLIC KEY BLOCK-----"
_PGP_FPR = rb"[0-9A-F]{4}(?: [0-9A-F]{4}){4} {1,2}[0-9A-F]{4}(?: [0-9A-F]{4}){4}"
PGP_RE = re.compile(
    _PGP_BEGIN + rb"[\r\n][\t\r\n\x20-\x7e]{16," + str(PGP_BLOCK_MAX).encode()
    + rb"}?-----END PGP PUBLIC KEY BLOCK-----"
    rb"|(?<![0-9A-Za-z])" + _PGP_FPR + rb"(?![0-9A-Za-z])"
)


def _pgp(buf: bytes, start: int, end: int) -> Span | None:
    """A key block: its fingerprint, computed from the key packet (CRC-24 checked). A
    fingerprint as gpg prints it (10 groups of 4 hex digits): the 40 digits, when some
    are letters (ten groups of decimal digits are some other number)."""
    text = _text(buf, start, end)
    if text.startswith("-----BEGIN"):
        fpr = pgp.armored_fingerprint(text)
        return None if fpr is None else (start, end, fpr)
    digits = text.replace(" ", "")
    if digits.isdigit() or len(set(digits)) < 4:
        return None
    return start, end, digits


FEATURE_TYPES: tuple[FeatureType, ...] = (
    FeatureType("email", EMAIL_RE,
                rb"[A-Za-z0-9._%+\-]@[A-Za-z0-9\-]+\.[A-Za-z0-9.\-]*[A-Za-z]{2}", 360, _email,
                "e-mail addresses", after=0, run=rb"[A-Za-z0-9._%+\-@]"),
    FeatureType("url", URL_RE, rb"(?i)(?:https?|ftp)://", 2100, _url, "URLs (http, https, ftp)",
                before=8, run=rb"[A-Za-z0-9\-._~:/?#@!$&*+;=%]"),
    FeatureType("domain", DOMAIN_RE, rb"[A-Za-z0-9]\.(?i:" + _TLDS.encode() + rb")",
                520, _domain, "host names with a known top-level domain", after=0,
                run=rb"[A-Za-z0-9.\-]"),
    FeatureType("ip", IP_RE,
                rb"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|:[0-9A-Fa-f]{0,4}:", 64, _ip,
                "IPv4 and IPv6 addresses"),
    FeatureType("telephone", TELEPHONE_RE,
                rb"\+[1-9][0-9 \-.()]{6,}[0-9]"
                rb"|[80][ \-]?\(?[0-9]{2,5}\)?[ \-]?[0-9]{2,4}[ \-]?[0-9]{2}",
                80, _telephone, "telephone numbers (international; KZ/RU/TM/KG national)"),
    FeatureType("ccn", CCN_RE,
                rb"[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4}",
                40, _ccn,
                "payment card numbers (Luhn and issuer ranges)"),
    FeatureType("iban", IBAN_RE, rb"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}", 50, _iban,
                "IBAN (mod 97 and the country's length)"),
    FeatureType("kz_iin", KZ_IIN_RE, rb"[0-9]{12}", 16, _kz_iin,
                "Kazakhstan IIN/BIN with its check digit", covered_by="ccn"),
    FeatureType("bitcoin", BITCOIN_RE,
                CRYPTO_PREFILTER,
                100, _checked(crypto.valid_bitcoin),
                "Bitcoin addresses (base58check, bech32, bech32m)"),
    FeatureType("litecoin", LITECOIN_RE,
                CRYPTO_PREFILTER, 100,
                _checked(crypto.valid_litecoin), "Litecoin addresses"),
    FeatureType("ethereum", ETHEREUM_RE, rb"0[xX][0-9a-fA-F]{40}", 42,
                _checked(crypto.valid_ethereum), "Ethereum addresses (EIP-55 when mixed case)"),
    FeatureType("tron", TRON_RE, CRYPTO_PREFILTER, 34, _checked(crypto.valid_tron),
                "Tron addresses (base58check, 0x41)"),
    FeatureType("monero", MONERO_RE, CRYPTO_PREFILTER, 106,
                _checked(crypto.valid_monero), "Monero addresses (Keccak checksum)"),
    FeatureType("onion", ONION_V3_RE, rb"[a-zA-Z2-7]{56}\.(?i:onion)", 70, _onion,
                "Tor v3 onion services (SHA3-256 checksum)"),
    FeatureType("onion_v2", ONION_V2_RE, rb"[a-z2-7]{16}\.(?i:onion)", 30, _onion_v2,
                "Tor v2 onion services (obsolete since 2021, no checksum)"),
    FeatureType("telegram", TELEGRAM_RE,
                rb"(?i:t\.me|telegram\.me|telegram\.dog)/|tg://resolve\?domain=", 120, _telegram,
                "Telegram t.me links and tg:// handles"),
    FeatureType("pgp", PGP_RE, _PGP_BEGIN + rb"|" + _PGP_FPR, PGP_BLOCK_MAX + 80, _pgp,
                "OpenPGP public keys: armoured key blocks and printed fingerprints (as the "
                "fingerprint)", before=64),
)

BY_NAME: dict[str, FeatureType] = {t.name: t for t in FEATURE_TYPES}
MAX_FEATURE = max(t.max_length for t in FEATURE_TYPES)


def select(names: str | None) -> tuple[FeatureType, ...]:
    """The feature types named in a comma-separated list (all of them for None or "all")."""
    if names is None or names.strip() in ("", "all"):
        return FEATURE_TYPES
    chosen = []
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in BY_NAME:
            known = ", ".join(BY_NAME)
            raise ValueError(f"unknown scanner {name!r}; known scanners: {known}")
        if BY_NAME[name] not in chosen:
            chosen.append(BY_NAME[name])
    if not chosen:
        raise ValueError("no scanner named")
    return tuple(chosen)
