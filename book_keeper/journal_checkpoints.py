"""The journal's side of the restart's checkpoints (`book_keeper.checkpoint`): where a full
replay ends, the stored checkpoints, and the replay the applier keeps and checkpoints."""

import sqlite3
import threading
import time
from collections.abc import Iterator

from book_keeper.checkpoint import EVERY_RECORDS, EVERY_S, CheckpointRow, JournalPosition, Replay
from book_keeper.journal_applier import _Applier
from book_keeper.journal_errors import JournalError
from book_keeper.journal_reader import JournalReader
from book_keeper.journal_schema import end_position
from core.redaction import shown_path


class CheckpointKeeping(JournalReader):
    """The checkpoints of `SqliteJournal`, written by its applier."""

    _applier: _Applier | None
    _thread: threading.Thread | None

    def end_position(self) -> JournalPosition:
        """The position after the last row of each table: where a full replay ends."""
        return end_position(self._db)

    def checkpoint_rows(self) -> Iterator[CheckpointRow]:
        """The checkpoints, newest first."""
        rows = self._db.execute(
            "SELECT id, version, seq, order_rowid, snapshot_rowid, symbols, state"
            " FROM checkpoints ORDER BY id DESC"
        )
        for id_, version, seq, order_rowid, snapshot_rowid, symbols, state in rows:
            position = JournalPosition(seq, order_rowid, snapshot_rowid)
            yield CheckpointRow(id_, version, position, symbols, bytes(state))

    def keep_checkpoints(
        self,
        replay: Replay,
        *,
        every_records: int = EVERY_RECORDS,
        every_s: float = EVERY_S,
    ) -> None:
        """From now on, hand each row applied to `replay` (a restore's, at the end of this
        journal: call it right after the restore, before anything more is recorded) and write
        it into the `checkpoints` table every `every_records` rows, or `every_s` seconds with
        anything new, and at `close()`. Writes one at once when the restore replayed rows
        after its checkpoint (a start after a crash, or the first of this version). For a
        journal applied by its owner (`writer_thread=False`, the daemon's)."""
        if self.readonly or self._applier is None:
            raise JournalError(f"the journal {shown_path(self.path)} is not open for writing")
        if self._thread is not None:  # its checkpoints would race the writer's transactions
            raise JournalError("checkpoints are kept by a journal opened with writer_thread=False")
        if every_records < 1 or every_s <= 0:
            raise ValueError(f"checkpoints every {every_records} rows / {every_s} s")
        end = self.end_position()  # flushed: every record so far is applied
        if replay.position != end:
            raise ValueError(
                f"the replay is at {tuple(replay.position)}, the journal at {tuple(end)}: keep "
                "the checkpoints of a replay made right before"
            )
        applier = self._applier
        applier.every_records = every_records
        applier.every_s = every_s
        applier.replay = replay
        applier._checkpoint_at = time.monotonic()
        applier._rows_since_checkpoint = 0
        if replay.replayed:
            self.checkpoint(force=True)

    def checkpoint(self, *, force: bool = False) -> bool:
        """Write a checkpoint of the kept replay now when rows were applied since the last one
        (or `force`: also without); True when one was written."""
        self.flush()
        applier = self._applier
        if applier is None:
            return False
        try:
            return applier.checkpoint(force=force)
        except sqlite3.Error as e:
            raise JournalError(f"journal checkpoint failed: {e}") from e

    @property
    def checkpoints_written(self) -> int:
        """Checkpoints written by this process."""
        return 0 if self._applier is None else self._applier.checkpoints_written
