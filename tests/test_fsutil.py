"""grader.fsutil.locked: the advisory lock the batch (exclusive) and mail-back (shared, and its
own exclusive one) take on OUT; never waits, one line when busy."""
import pytest

from grader import UsageError, fsutil


def test_an_exclusive_lock_refuses_a_second_holder_at_once(tmp_path):
    lock = tmp_path / ".batch.lock"
    with fsutil.locked(lock, exclusive=True, busy="busy now"):
        with pytest.raises(UsageError, match="^busy now$"):
            with fsutil.locked(lock, exclusive=False, busy="busy now"):
                pass
    with fsutil.locked(lock, exclusive=True, busy="x"):   # released on leaving the block
        pass
    assert oct(lock.stat().st_mode & 0o777) == "0o600"


def test_shared_locks_hold_together_and_keep_an_exclusive_one_out(tmp_path):
    lock = tmp_path / ".batch.lock"
    with fsutil.locked(lock, exclusive=False, busy="x"), fsutil.locked(lock, exclusive=False, busy="x"):
        with pytest.raises(UsageError, match="writing"):
            with fsutil.locked(lock, exclusive=True, busy="a batch is writing"):
                pass
