"""Names turned into keyed encodings an NGO can share: Bloom-filter CLKs that keep names comparable
(Schnell, Bormann and Reiher's cryptographic long-term key) and exact keyed pseudonyms.

A CLK is a bit string of ``bits`` bits. Each q-gram of the normalised name tokens, and of their
cross-script skeleton (``names.skeleton``), sets ``hashes`` bits at positions drawn from HMAC-SHA256
under a key the NGOs share; two spellings of one name share most q-grams and so most bits, and
the Dice coefficient of two CLKs measures that. Whoever compares CLKs needs no key; whoever holds
the key can test guesses, so the key stays with the NGOs.

>>> key = bytes(range(32))
>>> round(dice(clk("Mohammed al-Hassan", key), clk("Muhammad Alhasan", key)), 2)
0.81
>>> keyed_pseudonym("Ahmad bin Khalid", key) == keyed_pseudonym("أحمد بن خالد", key)
False
>>> keyed_pseudonym("Ahmad bin Khalid", key) == keyed_pseudonym("AHMAD Khalid", key)
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from workbench.errors import WorkbenchError
from workbench.linkage.names import name_tokens, normalise_name, skeleton
from workbench.sql import quote_ident

BITS = 1024
# About 30 to 40 q-grams for a three-part name (ahmad khalid hassan: 20 of tokens and 13 of its
# skeleton); 20 bits each fill about half of 1,024 bits, where a bit carries most information.
HASHES = 20
Q = 2
MIN_KEY_BYTES = 32
PSEUDONYM_HEX = 24  # 96 bits: a collision among a million names has odds of about 1 in 10^16

_POSITION_BYTES = 4  # a 32-bit draw per position keeps the modulo bias below 2^-22 for any size


class PseudonymiseError(WorkbenchError):
    """A name file, key file or output cannot be used to make pseudonyms (the message says which and why)."""


def _subkey(key: bytes, label: bytes) -> bytes:
    """A key for one purpose, so that the CLK bits and the exact pseudonyms never share a key."""
    return hmac.digest(key, label, "sha256")


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise PseudonymiseError(f"a pseudonymisation key needs at least {MIN_KEY_BYTES} bytes of secret")


def _check_shape(bits: int, hashes: int, q: int) -> None:
    if bits < 64 or bits % 8 or not 1 <= hashes <= 256 or not 1 <= q <= 5:
        raise ValueError(f"bits must be a multiple of 8 of at least 64, hashes 1..256, q 1..5 "
                         f"(got bits={bits}, hashes={hashes}, q={q})")


def qgrams(text: str, q: int = Q) -> set[str]:
    """The tagged q-grams a CLK holds: ``n`` + q-gram of each name token padded with spaces, and
    ``s`` + q-gram of each skeleton word, so that an Arabic and a Latin spelling share the latter.

    >>> sorted(qgrams("Ali"))
    ['n a', 'nal', 'nli', 'ni ', 's a', 'sal', 'sl ']
    """
    grams: set[str] = set()
    for tag, words in (("n", name_tokens(text)), ("s", skeleton(text).split())):
        for word in words:
            padded = " " * (q - 1) + word + " " * (q - 1)
            grams.update(tag + padded[i:i + q] for i in range(len(padded) - q + 1))
    return grams


class ClkEncoder:
    """CLKs and pseudonyms under one key, with the bit positions of each q-gram remembered, so a
    file of a hundred thousand names costs a few thousand HMACs per distinct q-gram, not per row."""

    def __init__(self, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q):
        _check_key(key)
        _check_shape(bits, hashes, q)
        self.bits, self.hashes, self.q = bits, hashes, q
        blocks = math.ceil(hashes * _POSITION_BYTES / 32)
        self._bloom_keys = [_subkey(key, b"workbench clk-%d" % (i + 1)) for i in range(blocks)]
        self._pseudonym_key = _subkey(key, b"workbench pseudonym")
        self._positions: dict[str, int] = {}

    def _mask(self, gram: str) -> int:
        """The bits one q-gram sets. Each of the ``hashes`` positions is an independent keyed draw
        ("random hashing"): double hashing (h1 + i*h2) leaves patterns a known attack exploits."""
        if (mask := self._positions.get(gram)) is None:
            data = gram.encode("utf-8")
            stream = b"".join(hmac.digest(k, data, "sha256") for k in self._bloom_keys)
            mask = 0
            for i in range(self.hashes):
                draw = int.from_bytes(stream[i * _POSITION_BYTES:(i + 1) * _POSITION_BYTES], "big")
                mask |= 1 << (draw % self.bits)
            self._positions[gram] = mask
        return mask

    def clk(self, text: str) -> bytes:
        """The CLK of a name: ``bits // 8`` bytes, all zero for a name with no letters."""
        filter_ = 0
        for gram in qgrams(text, self.q):
            filter_ |= self._mask(gram)
        return filter_.to_bytes(self.bits // 8, "big")

    def pseudonym(self, text: str, prefix: str = "PS-") -> str:
        """The exact keyed pseudonym of a name: equal exactly when the normalised names are equal."""
        name = normalise_name(text)
        if not name:
            raise ValueError("a name with no letters has no pseudonym")
        digest = hmac.new(self._pseudonym_key, name.encode("utf-8"), hashlib.sha256).hexdigest()
        return prefix + digest[:PSEUDONYM_HEX]


def clk(text: str, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q) -> bytes:
    """The cryptographic long-term key (Bloom filter) of a name under ``key`` (at least 32 bytes).

    >>> len(clk("Khaled", bytes(32)))
    128
    """
    return ClkEncoder(key, bits=bits, hashes=hashes, q=q).clk(text)


def encode(text: str, key: bytes, *, bits: int = BITS, hashes: int = HASHES, q: int = Q) -> str:
    """The CLK of a name as base64 text, as files carry it (172 characters for 1,024 bits).

    >>> len(encode("Khaled", bytes(32)))
    172
    """
    return base64.b64encode(clk(text, key, bits=bits, hashes=hashes, q=q)).decode("ascii")


def keyed_pseudonym(text: str, key: bytes, prefix: str = "PS-") -> str:
    """An exact pseudonym of a normalised name: HMAC-SHA256 under a key derived from ``key``,
    as ``prefix`` and 24 hex digits. NGOs sharing the key get equal pseudonyms for equal names.

    >>> keyed_pseudonym("Khaled al-Zoubi", bytes(32)) == keyed_pseudonym("khaled alzoubi", bytes(32))
    True
    """
    return ClkEncoder(key).pseudonym(text, prefix)


def dice(a: bytes, b: bytes) -> float:
    """The Dice coefficient of two CLKs: twice the shared set bits over the sum of set bits (0.0
    when neither has a bit set).

    >>> dice(b"\\xf0", b"\\x30")
    0.6666666666666666
    """
    if len(a) != len(b):
        raise ValueError(f"CLKs of different lengths cannot be compared ({len(a)} and {len(b)} bytes)")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0


def _column(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split("."))


def dice_sql(a_column: str, b_column: str) -> str:
    """A DuckDB expression for the Dice coefficient of two columns of base64 CLK text, equal to
    ``dice`` (NULL when either is NULL or empty). A dotted name is a table-qualified column.

    >>> dice_sql("l.name_clk", "r.name_clk")[:60]
    'CAST(2 * bit_count(from_base64(NULLIF("l"."name_clk", \\'\\'))::BI'
    """
    a, b = (f"from_base64(NULLIF({_column(c)}, ''))::BIT" for c in (a_column, b_column))
    return f"CAST(2 * bit_count({a} & {b}) AS DOUBLE) / greatest(bit_count({a}) + bit_count({b}), 1)"

