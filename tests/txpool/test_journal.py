"""The pool journal: acknowledged transactions survive restarts and torn writes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from openledger_node.exceptions import PoolClosed
from openledger_node.txpool import TxPool, read_journal
from openledger_node.txpool.journal import MAGIC, TxJournal, encode_record

from .helpers import FakeState, address, make_pool, signed, tx_hash_of


def hashes_of(pool: TxPool) -> set[bytes]:
    pending, queued = pool.content()
    return {
        bytes(tx.hash)
        for lists in (pending, queued)
        for txs in lists.values()
        for tx in txs.values()
    }


def test_acknowledged_transactions_are_on_disk_before_add_returns(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    pool = make_pool(journal_path=path)
    raw = signed(1, 0)
    pool.add_raw(raw)
    assert read_journal(path).records == [raw]  # read by another handle, no close


def test_restart_without_close_restores_pending_and_queued(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    state = FakeState()
    pool = make_pool(state, journal_path=path)
    for raw in (signed(1, 0), signed(1, 1), signed(1, 3), signed(2, 0, kind=0)):
        pool.add_raw(raw)
    before = pool.content()

    restarted = make_pool(state, journal_path=path)  # as after kill -9: no close()
    assert restarted.content() == before
    assert restarted.status() == (3, 1)


def test_replacement_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    pool = make_pool(journal_path=path)
    pool.add_raw(signed(1, 0))
    new = pool.add_raw(signed(1, 0, fee_cap=200, tip=20))
    assert hashes_of(make_pool(journal_path=path)) == {new}


def test_torn_last_record_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "txpool.journal"
    pool = make_pool(journal_path=path)
    kept = [pool.add_raw(signed(1, 0)), pool.add_raw(signed(1, 1))]
    pool.add_raw(signed(1, 2))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # the crash cut the last record

    with caplog.at_level(logging.INFO, logger="openledger_node.txpool"):
        restarted = make_pool(journal_path=path)
    assert hashes_of(restarted) == set(kept)
    assert "torn last record skipped" in caplog.text
    assert not read_journal(path).torn and len(read_journal(path).records) == 2
    restarted.add_raw(signed(1, 2))  # appends after the rewrite are readable
    assert len(read_journal(path).records) == 3


@pytest.mark.parametrize("cut", [1, 4, 7, 8, 9], ids=lambda n: f"header+{n}")
def test_cut_anywhere_in_the_last_record(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "txpool.journal"
    first, second = signed(1, 0), signed(2, 0)
    path.write_bytes(MAGIC + encode_record(first) + encode_record(second)[:cut])
    assert hashes_of(make_pool(journal_path=path)) == {tx_hash_of(first)}


def test_checksum_mismatch_is_treated_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    first, second = signed(1, 0), signed(2, 0)
    bad = bytearray(encode_record(second))
    bad[-1] ^= 0x01
    path.write_bytes(MAGIC + encode_record(first) + bytes(bad))
    contents = read_journal(path)
    assert contents.records == [first] and contents.torn
    assert hashes_of(make_pool(journal_path=path)) == {tx_hash_of(first)}


def test_replay_drops_what_is_no_longer_valid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "txpool.journal"
    state = FakeState()
    pool = make_pool(state, journal_path=path)
    pool.add_raw(signed(1, 0))
    live = pool.add_raw(signed(1, 1))
    pool.add_raw(signed(2, 0))
    state.nonces[address(1)] = 1
    state.balances[address(2)] = 0

    with caplog.at_level(logging.INFO, logger="openledger_node.txpool"):
        restarted = make_pool(state, journal_path=path)
    assert hashes_of(restarted) == {live}
    assert "1 loaded, 2 dropped" in caplog.text
    assert read_journal(path).records == [signed(1, 1)]


def test_new_head_and_close_rewrite_only_live_transactions(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    state = FakeState()
    pool = make_pool(state, journal_path=path)
    pool.add_raw(signed(1, 0))
    pool.add_raw(signed(1, 0, fee_cap=200, tip=20))
    pool.add_raw(signed(1, 1))
    pool.add_raw(signed(2, 0))
    assert len(read_journal(path).records) == 4

    state.nonces[address(1)] = 1
    pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    assert read_journal(path).records == [signed(1, 1), signed(2, 0)]

    pool.remove([tx_hash_of(signed(2, 0))])
    pool.close()
    assert read_journal(path).records == [signed(1, 1)]
    assert not (tmp_path / "txpool.journal.tmp").exists()
    with pytest.raises(PoolClosed):
        pool.add_raw(signed(3, 0))


def test_file_without_the_header_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    path.write_bytes(b"not a journal at all")
    pool = make_pool(journal_path=path)
    assert pool.status() == (0, 0)
    assert (tmp_path / "txpool.journal.corrupt").read_bytes() == b"not a journal at all"
    pool.add_raw(signed(1, 0))
    assert len(read_journal(path).records) == 1


def test_journal_off_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "txpool.journal"
    pool = make_pool(journal_path=path, journal=False)
    pool.add_raw(signed(1, 0))
    pool.close()
    assert not path.exists()


def test_missing_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "txpool" / "journal"
    make_pool(journal_path=path).add_raw(signed(1, 0))
    assert len(read_journal(path).records) == 1


def test_journal_writer_round_trip(tmp_path: Path) -> None:
    journal = TxJournal(tmp_path / "j")
    journal.append(b"\x01\x02")
    journal.append(b"")
    assert journal.rewrite([b"a", b"bc"]) == 2
    journal.append(b"def")
    journal.close()
    assert read_journal(tmp_path / "j").records == [b"a", b"bc", b"def"]


def test_failed_rewrite_keeps_the_previous_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "txpool.journal"
    state = FakeState()
    pool = make_pool(state, journal_path=path)
    first = pool.add_raw(signed(1, 0))

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("openledger_node.txpool.journal.os.replace", disk_full)
        pool.on_new_head(state, base_fee=0, block_gas_limit=30_000_000)
    second = pool.add_raw(signed(2, 0))
    assert hashes_of(make_pool(state, journal_path=path)) == {first, second}
