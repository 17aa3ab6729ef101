"""One started child process as the grader talks to it: ``Process`` (its pipes, its cgroup, the
request/reply loop), ``Output`` (the student's stdout/stderr, bounded) and the ``_Killer`` that
ends it without leaving anything behind.

``Process.exchange`` writes a request and feeds the answer to a ``protocol.Reader`` in one poll
loop that also reads the student's output, until the answer is whole, the wall-clock deadline
passes, the answer channel closes, or the request's CPU time runs out. That CPU time is counted
by the child's cgroup (every process of it, forked ones that left the session included), and
read only as often as the time left could be used up on every processor at once
(``_CpuWatch``), so an honest request costs a few reads.

Not this module's job: when to start, restart or stop a process, and what a request's ending
means for its ``Result`` (``grader.sandbox.process.Child``).
"""
import contextlib
import errno
import math
import os
import select
import shutil
import signal
import subprocess
import time
import weakref

from grader.sandbox.slots import KILL_WAIT

CPU_POLL_SECONDS = 0.05  # the shortest wait between two reads of a child's CPU time


class Process:
    """One started child: its pipes, its cgroup, and how to kill it without leaving anything behind."""

    def __init__(self, popen, sandbox, req_w, resp_r, out_r, home, cgroup=None):
        self.popen, self.home, self.cgroup = popen, home, cgroup
        self.req_w, self.resp_r, self.out_r = req_w, resp_r, out_r
        for fd in (req_w, resp_r, out_r):
            os.set_blocking(fd, False)
        self.killer = _Killer(popen, sandbox, cgroup)
        self._finalizer = weakref.finalize(self, self.killer)  # a forgotten Child dies with its owner

    def exchange(self, chunks, reader, deadline, output, cpu_seconds: float | None = None) -> str:
        """Send ``chunks`` and feed what comes back to ``reader``: "done", "timeout", "eof", or
        "cpu" when the cgroup's processes used ``cpu_seconds`` of CPU time from now on."""
        cpu = _CpuWatch(self.cgroup, cpu_seconds)
        pending = [memoryview(c) for c in chunks if len(c)]
        poller = select.poll()
        poller.register(self.resp_r, select.POLLIN)
        if self.out_r is not None:
            poller.register(self.out_r, select.POLLIN)
        if pending:
            poller.register(self.req_w, select.POLLOUT)
        while not reader.done:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return "timeout"
            wait = cpu.wait(now)
            if wait is not None and wait <= 0:
                return "cpu"
            for fd, _ in poller.poll(math.ceil(min(left, wait if wait is not None else left) * 1000)):
                if fd == self.out_r:
                    if self._read_output(output) is False:  # None: nothing to read after all
                        poller.unregister(fd)
                elif fd == self.resp_r:
                    data = _read(fd, 1 << 20)
                    if data == b"":
                        return "eof"
                    if data:
                        reader.feed(data)
                elif fd == self.req_w:
                    try:
                        while pending:
                            pending[0] = pending[0][os.write(fd, pending[0]):]
                            if not pending[0]:
                                pending.pop(0)
                    except BlockingIOError:
                        pass
                    except BrokenPipeError:
                        pending.clear()  # the child is gone: the end of its answers follows
                    if not pending:
                        poller.unregister(fd)
        return "done"

    def unread_answer(self):
        """None when the answer channel is quiet; b"" when it is closed; else the extra bytes."""
        if not select.select([self.resp_r], [], [], 0)[0]:
            return None
        return _read(self.resp_r, 1 << 16)

    def read_ready_output(self, output, max_bytes: int) -> None:
        """Read what is already in the output pipe (the child flushes before it answers)."""
        start = output.total
        while self.out_r is not None and output.total - start < max_bytes:
            if self._read_output(output) is None:
                return

    def read_output_to_end(self, output, wait: float = 1.0) -> None:
        """Read the output until its end, once the process is dead."""
        deadline = time.monotonic() + wait
        while self.out_r is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.out_r], [], [], left)[0]:
                return
            self._read_output(output)

    def _read_output(self, output):
        """Read once into ``output``: True, None when nothing is ready, False at the end."""
        data = _read(self.out_r, 1 << 20)
        if data == b"":
            os.close(self.out_r)
            self.out_r = None
            return False
        if data is None:
            return None
        output.add(data)
        return True

    def wait_exit(self, timeout: float):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.killer()

    def release(self) -> None:
        """Close every descriptor and remove the private home (once the process is dead)."""
        self._finalizer()
        for name in ("req_w", "resp_r", "out_r"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self.killer.forget()
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


class _CpuWatch:
    """When a request's CPU time, counted by the child's cgroup, runs out.

    The count is read only when the time left could have been used on every processor since
    the last read: a request with 180 s left on 2 processors is first looked at after 90 s.
    """

    def __init__(self, cgroup, seconds: float | None):
        start = cgroup.cpu_ns() if cgroup is not None and seconds else None
        self.cgroup = cgroup
        self.limit = None if start is None or seconds is None else start + int(seconds * 1e9)
        self.processors = os.cpu_count() or 1
        self.next_read = time.monotonic()

    def wait(self, now: float) -> float | None:
        """Seconds until the next read (<= 0: the CPU time is used up); None: no CPU watch."""
        if self.limit is None:
            return None
        if now >= self.next_read:
            used = self.cgroup.cpu_ns()
            if used is None:
                self.limit = None
                return None
            if used >= self.limit:
                return 0.0
            self.next_read = now + max(CPU_POLL_SECONDS, (self.limit - used) / 1e9 / self.processors)
        return self.next_read - now


class _Killer:
    """Kills a child and everything it started, and reaps it; safe to call twice.

    With bubblewrap, SIGKILL to its PID 1 (held as a pidfd, so never a reused pid) empties the
    whole PID namespace, and bubblewrap's outer process, our child, reaps it. Killing the outer
    process instead would leave PID 1 to the host's init. Without bubblewrap, SIGTERM asks the
    reaper to kill and reap its tree. Then the child's cgroup, if it has one, is emptied (what
    is left is killed), read (``usage``) and removed.
    """

    def __init__(self, popen, sandbox, cgroup=None):
        self.popen, self.sandbox, self.cgroup = popen, sandbox, cgroup
        self.pidfd: int | None = None  # bubblewrap's PID 1 in the sandbox (``launch.sandbox_init``)
        self.usage = None

    def __call__(self) -> None:
        popen = self.popen
        if popen.poll() is None:
            try:
                if self.pidfd is not None:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                elif self.sandbox == "bubblewrap":
                    os.killpg(popen.pid, signal.SIGKILL)
                else:
                    popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            popen.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)  # last resort: may leave orphans behind
            popen.wait()
        if self.cgroup is not None:
            self.usage = self.cgroup.finish()

    def forget(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _read(fd: int, size: int):
    """Bytes read, b"" at the end, None when nothing is ready (non-blocking fds)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError as err:
        if err.errno in (errno.EIO, errno.ECONNRESET):
            return b""
        raise


# --- the student's output -------------------------------------------------------------------------

class Output:
    """The first and last ``limit/2`` bytes of a stream, and how many in between were dropped."""

    def __init__(self, limit: int):
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data[-self.tail_limit:]
            if len(self.tail) > 2 * self.tail_limit:  # trim now and then, not on every write
                del self.tail[:-self.tail_limit]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - min(len(self.tail), self.tail_limit)

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_limit:]) if self.tail_limit else b""
        middle = f"\n[... {self.dropped} bytes of output not kept ...]\n".encode() if self.dropped else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", "replace")
