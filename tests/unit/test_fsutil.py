"""grader.fsutil: the advisory lock the batch (exclusive) and mail-back (shared, and its own
exclusive one) take on OUT, never waiting, one line when busy; and the one atomic file write."""
import os

import pytest

from grader import fsutil
from grader.errors import UsageError


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


def test_atomic_write_replaces_whole_keeps_an_unchanged_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "grades.csv"
    assert fsutil.atomic_write(target, "a,b\n") is True
    assert target.read_text() == "a,b\n" and (target.stat().st_mode & 0o777) == 0o644
    before = target.stat().st_mtime_ns
    os.utime(target, ns=(before - 10**9, before - 10**9))
    assert fsutil.atomic_write(target, b"a,b\n", if_changed=True) is False
    assert target.stat().st_mtime_ns == before - 10**9          # untouched, mtime included
    assert fsutil.atomic_write(target, "c\n", mode=0o600, if_changed=True) is True
    assert target.read_text() == "c\n" and (target.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]


def test_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        fsutil.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
