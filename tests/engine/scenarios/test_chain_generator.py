"""The synthetic regtest chain: reproducible, protocol-valid (checked here by code written
apart from the generator: sighashes recomputed from Dalil's parse of the blocks, signatures
verified with ``cryptography``), and its planted facts found by Dalil's own store,
clustering and tracing."""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections import Counter

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from dalil.engine.ledger.bitcoin.address import REGTEST, address_to_script
from dalil.engine.ledger.bitcoin.parse import Block, Transaction, iter_blk, parse_file
from dalil.engine.ledger.cluster import cluster_store, coinjoin_kind
from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import import_tags, parse_tag_file
from dalil.engine.ledger.trace import trace
from dalil.engine.scenarios.chain import GENESIS_HASH, build_chain

ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def h256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def h160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def ser_varint(n: int) -> bytes:
    return bytes([n]) if n < 0xFD else b"\xfd" + struct.pack("<H", n)


def ser_outputs(tx: Transaction) -> bytes:
    return b"".join(struct.pack("<q", o.value) + ser_varint(len(o.script_pubkey))
                    + o.script_pubkey for o in tx.outputs)


def outpoint(txid: str, vout: int) -> bytes:
    return bytes.fromhex(txid)[::-1] + struct.pack("<I", vout)


def legacy(tx: Transaction, index: int, script_code: bytes) -> bytes:
    raw = struct.pack("<i", tx.version) + ser_varint(len(tx.inputs))
    for i, txin in enumerate(tx.inputs):
        script = script_code if i == index else b""
        raw += (outpoint(txin.prev_txid, txin.prev_vout) + ser_varint(len(script)) + script
                + struct.pack("<I", txin.sequence))
    raw += ser_varint(len(tx.outputs)) + ser_outputs(tx) + struct.pack("<II", tx.locktime, 1)
    return h256(raw)


def bip143(tx: Transaction, index: int, script_code: bytes, amount: int) -> bytes:
    txin = tx.inputs[index]
    raw = (struct.pack("<i", tx.version)
           + h256(b"".join(outpoint(i.prev_txid, i.prev_vout) for i in tx.inputs))
           + h256(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs))
           + outpoint(txin.prev_txid, txin.prev_vout) + ser_varint(len(script_code))
           + script_code + struct.pack("<q", amount) + struct.pack("<I", txin.sequence)
           + h256(ser_outputs(tx)) + struct.pack("<II", tx.locktime, 1))
    return h256(raw)


def pushes(script: bytes) -> list[bytes]:
    items, pos = [], 0
    while pos < len(script):
        n = script[pos]
        assert 0 < n < 0x4C, f"unexpected opcode {n:#x}"
        items.append(script[pos + 1 : pos + 1 + n])
        pos += 1 + n
    return items


def check_signature(sig: bytes, pubkey: bytes, digest: bytes) -> None:
    assert sig[-1] == 1, "SIGHASH_ALL"
    der = sig[:-1]
    r, s = decode_dss_signature(der)
    assert s <= ORDER // 2, "low S"
    assert encode_dss_signature(r, s) == der, "strict DER"
    assert len(pubkey) == 33 and pubkey[0] in (2, 3), "compressed key"
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), pubkey)
    key.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@pytest.fixture(scope="module")
def scenario():
    return build_chain(2024)


@pytest.fixture(scope="module")
def blocks(scenario) -> list[Block]:
    return list(iter_blk(scenario.blk, source="blk00000.dat", check_merkle=True))


def test_same_seed_same_bytes_other_seed_differs(scenario):
    again = build_chain(2024)
    assert again.blk == scenario.blk
    assert again.tags_csv == scenario.tags_csv and again.key == scenario.key
    other = build_chain(2025)
    assert other.blk != scenario.blk
    for fact in ("ransom_address", "coinjoin_txid", "deposit_address", "deposit_sat",
                 "ransom_received_sat"):
        assert other.key[fact] != scenario.key[fact], fact


def test_blocks_are_valid_regtest_blocks(scenario, blocks):
    assert blocks[0].hash == GENESIS_HASH
    assert scenario.blk[:4] == bytes.fromhex("fabfb5da")
    assert len(blocks) == scenario.key["blocks"]
    assert sum(len(b.transactions) for b in blocks) == scenario.key["transactions"]
    target = 0x7FFFFF << (8 * (0x20 - 3))
    for prev, block in itertools.pairwise(blocks):
        assert block.network == "regtest"
        assert block.header.prev_hash == prev.hash
        assert block.header.timestamp > prev.header.timestamp
        assert block.header.bits == 0x207FFFFF
        assert int(block.hash, 16) <= target, "proof of work"
    for height, block in enumerate(blocks[1:], start=1):
        script = block.transactions[0].inputs[0].script_sig
        if height <= 16:
            assert script[0] == 0x50 + height  # OP_1..OP_16, as Core's miner writes it
        else:
            assert block.height == height  # BIP34 push, read by Dalil's parser


def test_every_signature_verifies_and_value_is_conserved(blocks):
    utxo: dict[tuple[str, int], tuple[int, bytes, int, bool]] = {}
    kinds: Counter[str] = Counter()
    for height, block in enumerate(blocks):
        fees = 0
        for tx in block.transactions[1:]:  # a spend may follow its parent in one block
            spent = 0
            for i, txin in enumerate(tx.inputs):
                value, script, born, coinbase = utxo.pop((txin.prev_txid, txin.prev_vout))
                assert not coinbase or height - born >= 100, "coinbase maturity"
                spent += value
                if script[:3] == b"\x76\xa9\x14":
                    sig, pub = pushes(txin.script_sig)
                    assert h160(pub) == script[3:23] and not txin.witness
                    check_signature(sig, pub, legacy(tx, i, script))
                    kinds["p2pkh"] += 1
                elif script[:2] == b"\x00\x14":
                    sig, pub = txin.witness
                    assert h160(pub) == script[2:] and txin.script_sig == b""
                    code = b"\x76\xa9\x14" + script[2:] + b"\x88\xac"
                    check_signature(sig, pub, bip143(tx, i, code, value))
                    kinds["p2wpkh"] += 1
                else:
                    assert script[:2] == b"\xa9\x14" and script[-1] == 0x87
                    (redeem,) = pushes(txin.script_sig)
                    sig, pub = txin.witness
                    assert h160(redeem) == script[2:22] and redeem == b"\x00\x14" + h160(pub)
                    code = b"\x76\xa9\x14" + h160(pub) + b"\x88\xac"
                    check_signature(sig, pub, bip143(tx, i, code, value))
                    kinds["p2sh-p2wpkh"] += 1
            out = sum(o.value for o in tx.outputs)
            assert spent > out, f"{tx.txid} pays a fee"
            fees += spent - out
            assert tx.locktime < height
            for k, o in enumerate(tx.outputs):
                utxo[(tx.txid, k)] = (o.value, o.script_pubkey, height, False)
        coinbase = block.transactions[0]
        if height:
            subsidy = 50 * 100_000_000 >> (height // 150)
            assert sum(o.value for o in coinbase.outputs) == subsidy + fees
            assert coinbase.outputs[-1].script_pubkey[:6] == bytes.fromhex("6a24aa21a9ed")
        for k, o in enumerate(coinbase.outputs):
            utxo[(coinbase.txid, k)] = (o.value, o.script_pubkey, height, True)
    assert kinds["p2pkh"] and kinds["p2wpkh"] and kinds["p2sh-p2wpkh"]


def test_a_tampered_signature_does_not_verify(blocks):
    tx = next(t for b in blocks for t in b.transactions if not t.is_coinbase
              and t.inputs[0].witness)
    sig, pub = tx.inputs[0].witness
    with pytest.raises(InvalidSignature):
        check_signature(sig, pub, h256(b"another message"))


def test_python_bitcoinlib_agrees_on_the_sighashes(blocks, raw_blocks):
    core = pytest.importorskip("bitcoin.core")
    script_mod = pytest.importorskip("bitcoin.core.script")
    checked = 0
    outputs = {(t.txid, k): o for b in blocks for t in b.transactions
               for k, o in enumerate(t.outputs)}
    for block in blocks[102:]:
        for tx in block.transactions[1:]:
            ctx = core.CTransaction.deserialize(tx_bytes(tx, block, raw_blocks))
            assert core.b2lx(ctx.GetTxid()) == tx.txid
            for i, txin in enumerate(tx.inputs):
                prev = outputs[(txin.prev_txid, txin.prev_vout)]
                if txin.witness:
                    pub = txin.witness[1]
                    code = script_mod.CScript(b"\x76\xa9\x14" + h160(pub) + b"\x88\xac")
                    ours = bip143(tx, i, bytes(code), prev.value)
                    theirs = script_mod.SignatureHash(code, ctx, i, script_mod.SIGHASH_ALL,
                                                      amount=prev.value,
                                                      sigversion=script_mod.SIGVERSION_WITNESS_V0)
                else:
                    ours = legacy(tx, i, prev.script_pubkey)
                    theirs = script_mod.SignatureHash(script_mod.CScript(prev.script_pubkey),
                                                      ctx, i, script_mod.SIGHASH_ALL)
                assert ours == theirs
                checked += 1
    assert checked > 20


@pytest.fixture(scope="module")
def raw_blocks(scenario) -> dict[str, bytes]:
    """Each block's bytes by hash, cut from the blk framing."""
    found: dict[str, bytes] = {}
    data, pos = scenario.blk, 0
    while pos < len(data):
        length = struct.unpack_from("<I", data, pos + 4)[0]
        raw = data[pos + 8 : pos + 8 + length]
        found[h256(raw[:80])[::-1].hex()] = raw
        pos += 8 + length
    return found


def tx_bytes(tx: Transaction, block: Block, raw_blocks: dict[str, bytes]) -> bytes:
    """The raw bytes of ``tx`` inside its block (fewer than 253 transactions a block)."""
    raw, pos = raw_blocks[block.hash], 81
    for t in block.transactions:
        if t.txid == tx.txid:
            return raw[pos : pos + t.size]
        pos += t.size
    raise AssertionError(tx.txid)


@pytest.fixture(scope="module")
def ledger(scenario, tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    scenario.write(root)
    store = LedgerStore(root / "store")
    report = store.ingest([root / "blk00000.dat"])
    assert report.errors == []
    assert report.blocks == scenario.key["blocks"]
    import_tags(store, root / "tags.csv")
    return root, store, store.connect()


def test_written_files_parse_and_tags_are_dalil_format(scenario, ledger):
    root, _store, _con = ledger
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == [
        "blk00000.dat", "chain-key.json", "tags.csv"]
    assert len(list(parse_file(root / "blk00000.dat"))) == scenario.key["blocks"]
    tags = parse_tag_file(root / "tags.csv")
    deposit = [t for t in tags if t.address == scenario.key["deposit_address"]]
    assert deposit and deposit[0].label == scenario.key["exchange"]
    assert deposit[0].category == "exchange"
    assert scenario.key["ransom_address"] not in {t.address for t in tags}
    for address in (scenario.key["ransom_address"], scenario.key["deposit_address"]):
        address_to_script(address, REGTEST)  # valid regtest addresses


def test_the_store_finds_the_ransom_total(scenario, ledger):
    _root, store, _con = ledger
    info = store.address(scenario.key["ransom_address"])
    assert info["received"] == scenario.key["ransom_received_sat"]
    assert info["outputs"] == len(scenario.key["victim_payments"])
    assert info["balance"] == 0  # all consolidated
    assert store.address(scenario.key["deposit_address"])["received"] == \
        scenario.key["deposit_sat"]


def test_clustering_finds_the_perpetrator_and_skips_the_coinjoin(scenario, ledger):
    _root, store, con = ledger
    clustering = cluster_store(con)
    key = scenario.key
    assert clustering.cluster_of(key["ransom_address"]) == key["perpetrator_cluster"]
    assert len(key["perpetrator_cluster"]) >= 2
    for other in key["perpetrator_cluster"][1:]:
        steps = clustering.why(key["perpetrator_cluster"][0], other)
        assert steps and {s["txid"] for s in steps} == {key["consolidation_txid"]}
    cj = store.transaction(key["coinjoin_txid"])
    assert cj is not None
    in_addresses = [i["address"] for i in cj["inputs"]]
    kind = coinjoin_kind(len(in_addresses), len(set(in_addresses)),
                         [o["value"] for o in cj["outputs"]])
    assert kind is not None
    assert clustering.skipped.get(kind, 0) >= 1
    labels = {clustering.cluster_id(a) for a in in_addresses}
    assert len(labels) == len(in_addresses), "no two CoinJoin inputs share a cluster"
    assert key["peeling_chain"][-1]["change_address"] in in_addresses


def test_trace_from_the_ransom_address_reaches_the_tagged_exchange(scenario, ledger):
    _root, _store, con = ledger
    key = scenario.key
    for model in ("haircut", "poison"):
        result = trace(con, key["ransom_address"], hops=key["peeling_hops"] + 4, model=model)
        stopped = {s["address"]: s["tags"] for s in result.stopped_at}
        assert key["deposit_address"] in stopped, model
        assert stopped[key["deposit_address"]][0]["label"] == key["exchange"]
        assert result.totals()[f"addr:{key['deposit_address']}"] > 0
        chains = result.peeling_chains
        assert [c["transactions"] for c in chains] == [
            [h["txid"] for h in key["peeling_chain"]]]
        assert chains[0]["length"] == key["peeling_hops"]
        nodes = {n.id for n in result.nodes}
        assert "tx:" + key["coinjoin_txid"] in nodes
        assert "tx:" + key["sweep_txid"] not in nodes, "stops at the exchange"


@pytest.mark.parametrize("seed", [1, 7, 99])
def test_other_seeds_plant_the_same_structure(seed, tmp_path):
    scenario = build_chain(seed)
    scenario.write(tmp_path)
    store = LedgerStore(tmp_path / "store")
    assert store.ingest([tmp_path / "blk00000.dat"]).errors == []
    import_tags(store, tmp_path / "tags.csv")
    con = store.connect()
    key = scenario.key
    assert cluster_store(con).cluster_of(key["ransom_address"]) == key["perpetrator_cluster"]
    result = trace(con, key["ransom_address"], hops=key["peeling_hops"] + 4)
    assert key["deposit_address"] in {s["address"] for s in result.stopped_at}
    assert [c["length"] for c in result.peeling_chains] == [key["peeling_hops"]]
