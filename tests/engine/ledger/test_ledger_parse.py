"""Parsing real Bitcoin blocks and transactions, and refusing broken ones clearly."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import struct

import ledger_reference as reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.ledger.bitcoin.parse import (
    Block,
    ParseError,
    Transaction,
    iter_blk,
    parse_block,
    parse_bytes,
    parse_file,
    parse_transaction,
)
from dalil.engine.ledger.bitcoin.script import ScriptType, classify

MAINNET_MAGIC = bytes.fromhex("f9beb4d9")

MAINNET_BLOCKS = {
    "bitcoinj/block169482.dat": 14,
    "bitcoinj/block227835.dat": 122,
    "bitcoinj/block227836.dat": 100,
    "bitcoinj/block363703.dat": 587,
    "bitcoinj/block370661.dat": 708,
    "bitcoinj/block383616.dat": 1731,
    "bitcoinj/block481815.dat": None,
    "bitcoinj/block481829.dat": None,
    "bitcoin-s/000000000000000000050f70113ab1932c195442cb49bcc4ee4d7f426c8a3295.raw": 2165,
    "bitcoin-s/00000000000000000008513c860373da0484f065983aeb063ebf81c172e81d48.raw": 1044,
}


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _merkle(txids: list[str]) -> str:
    """The merkle root, computed here from the engine's txids (internal byte order)."""
    level = [bytes.fromhex(t)[::-1] for t in txids]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0][::-1].hex()


def _one_block(path) -> Block:
    items = list(parse_file(path))
    assert len(items) == 1 and isinstance(items[0], Block)
    return items[0]


@pytest.fixture(scope="module")
def bitcoin(shared_data):
    return shared_data / "bitcoin"


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(MAINNET_BLOCKS))
def test_real_blocks_give_the_txids_their_header_commits_to(bitcoin, name):
    block = _one_block(bitcoin / name)
    txids = [tx.txid for tx in block.transactions]
    assert _merkle(txids) == block.header.merkle_root
    if MAINNET_BLOCKS[name] is not None:
        assert len(txids) == MAINNET_BLOCKS[name]
    header = (bitcoin / name).read_bytes()[:80]
    assert _dsha(header)[::-1].hex() == block.hash
    if name.startswith("bitcoin-s/"):
        assert name.split("/")[1].removesuffix(".raw") == block.hash


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(MAINNET_BLOCKS))
def test_every_output_address_matches_an_independent_derivation(bitcoin, name):
    block = _one_block(bitcoin / name)
    checked = 0
    for tx in block.transactions:
        for out in tx.outputs:
            got = classify(out.script_pubkey)
            expected = reference.output_address(out.script_pubkey)
            if got.type in (ScriptType.MULTISIG, ScriptType.OP_RETURN, ScriptType.NONSTANDARD):
                assert got.address is None
                continue
            assert got.address == expected, (tx.txid, out.script_pubkey.hex())
            checked += 1
    assert checked > 0


@pytest.mark.shared_data
def test_uncompressed_p2pk_hashes_all_65_key_bytes(bitcoin):
    # The genesis-era blocks pay to uncompressed P2PK keys: the well-known trap.
    blocks = list(parse_file(bitcoin / "bitcoinj/first-100k-blocks.dat"))
    coinbase_out = blocks[0].transactions[0].outputs[0]
    got = classify(coinbase_out.script_pubkey)
    assert got.type is ScriptType.P2PK
    assert got.address == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert got.address == reference.output_address(coinbase_out.script_pubkey)


@pytest.mark.shared_data
def test_blk_files_give_consecutive_mainnet_blocks(bitcoin):
    blocks = list(parse_file(bitcoin / "bitcoinj/first-100k-blocks.dat"))
    assert len(blocks) == 439
    assert blocks[0].hash == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    for prev, block in itertools.pairwise(blocks):
        assert isinstance(block, Block) and block.header.prev_hash == prev.hash
        assert block.network == "mainnet"
    assert len(list(parse_file(bitcoin / "btcd/blocks1-256"))) == 255


@pytest.mark.shared_data
def test_segwit_and_taproot_transactions(bitcoin):
    for name in ("7393096d97bfee8660f4100ffd61874d62f9a65de9fb6acf740c4c386990ef73",
                 "73be398c4bdc43709db7398106609eea2a7841aaf3a4fa2000dc18184faa2a7e"):
        (tx,) = parse_file(bitcoin / f"bitcoin-s/{name}.raw")
        assert isinstance(tx, Transaction)
        assert tx.txid == name and tx.is_segwit and tx.wtxid != tx.txid
        assert tx.vsize < tx.size
    segwit = _one_block(bitcoin / "bitcoin-s" / (
        "00000000000000000008513c860373da0484f065983aeb063ebf81c172e81d48.raw"))
    assert sum(tx.is_segwit for tx in segwit.transactions) == 452


@pytest.mark.shared_data
def test_the_mega_transaction_and_the_testnet_fan_out(bitcoin):
    (mega,) = parse_file(bitcoin / "btcd/megatx.bin")
    assert isinstance(mega, Transaction)
    assert mega.txid.startswith("bb41a757") and mega.txid.endswith("3e08")
    assert len(mega.inputs) == 5569 and len(mega.outputs) == 1
    fan_txid = "a536e7f60a493a258d9adc77d913f7798baf60c808c16898b04579d8c0652681"
    (fan,) = parse_file(bitcoin / "bitcoin-s" / f"{fan_txid}.raw")
    assert isinstance(fan, Transaction) and len(fan.outputs) == 69_420
    assert fan.txid == fan_txid


@pytest.mark.shared_data
def test_hex_input_is_read_like_binary(bitcoin, tmp_path):
    raw = (bitcoin / "bitcoinj/block169482.dat").read_bytes()
    hex_file = tmp_path / "block.hex"
    hex_file.write_text(raw.hex() + "\n")
    assert _one_block(hex_file).hash == _one_block(bitcoin / "bitcoinj/block169482.dat").hash


# --- bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_block(shared_data) -> bytes:
    return (shared_data / "bitcoin/bitcoinj/block169482.dat").read_bytes()


@pytest.mark.shared_data
def test_a_truncated_block_names_the_source_and_offset(small_block):
    with pytest.raises(ParseError, match=r"cut\.dat"):
        parse_block(small_block[:-10], source="cut.dat")


@pytest.mark.shared_data
def test_a_changed_transaction_breaks_the_merkle_check(small_block):
    tampered = bytearray(small_block)
    tampered[-5] ^= 0xFF  # the last output script of the last transaction
    with pytest.raises(ParseError, match="merkle"):
        parse_block(bytes(tampered), source="tampered")


@pytest.mark.shared_data
def test_blk_framing_errors_keep_the_blocks_before_them(small_block):
    record = MAINNET_MAGIC + struct.pack("<I", len(small_block)) + small_block
    good = list(iter_blk(record + record))
    assert len(good) == 2  # a duplicate block is parsed; the store skips it
    wrong_magic = record + b"\xde\xad\xbe\xef" + record[4:]
    seen: list[Block] = []
    with pytest.raises(ParseError, match="unknown magic"):
        seen.extend(iter_blk(wrong_magic, source="blk00000.dat"))
    assert len(seen) == 1
    lying = record + MAINNET_MAGIC + struct.pack("<I", 10 * len(small_block)) + small_block
    seen = []
    with pytest.raises(ParseError, match="length"):
        seen.extend(iter_blk(lying, source="blk00001.dat"))
    assert len(seen) == 1
    padded = record + bytes(4096)  # Core pre-allocates its files with zeros
    assert len(list(iter_blk(padded))) == 1


def test_empty_and_garbage_files_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(ParseError, match="empty file"):
        list(parse_file(empty))
    with pytest.raises(ParseError, match=r"missing\.dat"):
        list(parse_file(tmp_path / "missing.dat"))
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"\x01" * 200)
    with pytest.raises(ParseError, match=r"garbage\.dat"):
        list(parse_file(garbage))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_parse_error(data):
    with contextlib.suppress(ParseError):
        list(parse_bytes(data, source="fuzz"))
    with contextlib.suppress(ParseError):
        parse_transaction(data)


@pytest.mark.parametrize(("script", "height"), [
    (b"\x00\x04\xff\xff", 0),
    (b"\x51\x00", 1),
    (b"\x60", 16),
    (b"\x01\x11", 17),
    (b"\x03\x8f\x3c\x04", 277647),
    (b"", None),
    (b"\x09" + bytes(9), None),
])
def test_bip34_heights_as_core_writes_them(script, height):
    from dalil.engine.ledger.bitcoin.parse import _bip34_height

    assert _bip34_height(script) == height
