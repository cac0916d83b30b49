"""The settlement journal: fsynced lines replayed into the same entries, a write
cut short by a crash dropped, and only forward transitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attribution.payable.journal import JOURNAL_FILE, Journal, JournalError


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(7, "requested", modelId=1)
    journal.record(7, "answered", queryHash="0x" + "11" * 32, contributionIds=[2, 5], weights=[400_000, 600_000])
    journal.record(7, "settle_sent", settleTx="0x" + "aa" * 32, nonce=3)
    journal.record(8, "requested", modelId=1)
    journal.record(8, "unattributable", reason="nothing positive")
    journal.close()

    again = Journal(tmp_path)
    seven, eight = again.get(7), again.get(8)
    assert seven is not None and eight is not None
    assert seven.state == "settle_sent" and seven.served and not seven.terminal
    assert seven.fields == {"modelId": 1, "queryHash": "0x" + "11" * 32, "contributionIds": [2, 5],
                            "weights": [400_000, 600_000], "settleTx": "0x" + "aa" * 32, "nonce": 3}
    assert [state for state, _ in seven.history] == ["requested", "answered", "settle_sent"]
    assert seven.at("answered") is not None and seven.at("settled") is None
    assert eight.terminal and eight.get("reason") == "nothing positive"
    assert [e.inference_id for e in again.pending("settle_sent", "answered")] == [7]
    lines = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[2])["state"] == "settle_sent"


def test_a_line_cut_short_by_a_crash_is_dropped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(1, "answered", queryHash="0x01")
    journal.close()
    with open(tmp_path / JOURNAL_FILE, "ab") as f:
        f.write(b'{"inferenceId":1,"state":"settle_s')
    again = Journal(tmp_path)
    entry = again.get(1)
    assert entry is not None and entry.state == "answered"
    assert (tmp_path / JOURNAL_FILE).read_bytes().endswith(b"}\n")
    again.record(1, "settle_sent", settleTx="0x02")
    again.close()
    assert Journal(tmp_path).get(1).state == "settle_sent"  # type: ignore[union-attr]


def test_a_bad_line_inside_the_journal_is_an_error(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_FILE).write_bytes(b'{"inferenceId":1,"state":"answered","at":1}\nnot json\n'
                                          b'{"inferenceId":2,"state":"answered","at":2}\n')
    with pytest.raises(JournalError, match=r"journal.jsonl:2: not a journal line"):
        Journal(tmp_path)
    (tmp_path / JOURNAL_FILE).write_bytes(b'{"inferenceId":1,"state":"paid","at":1}\n')
    with pytest.raises(JournalError, match="unknown state 'paid'"):
        Journal(tmp_path)


def test_states_only_move_forward(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(3, "settled", disputeDeadline=10)
    with pytest.raises(JournalError, match="cannot go from settled back to answered"):
        journal.record(3, "answered")
    journal.record(3, "settled", reconciled=True)  # the same state again is allowed
    journal.record(3, "finalized")
    with pytest.raises(JournalError, match="inference 3 is already finalized"):
        journal.record(3, "lost", reason="x")
    with pytest.raises(JournalError, match="unknown journal state"):
        journal.record(4, "paid")
    journal.close()
    assert Journal(tmp_path).get(3).state == "finalized"  # type: ignore[union-attr]
