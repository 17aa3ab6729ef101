"""What running one probe gave: one type, wherever the probe ran.

A probe runs in the grader's sandboxed child (``grader.sandbox.Child.request``) or, in the kit
and for the reference, in the caller's own process (``lab2check.checks.run_local``); both give
a ``Result``, and the checks (``lab2check.checks.evaluate``, ``failure``) read it the same way.
It lives in ``lab2check`` because the kit, which ships without the grader, needs it too.

Not this module's job: running probes (``lab2check.probes``), carrying them across the sandbox
(``grader.sandbox.protocol``) or judging their values (``lab2check.checks``).
"""
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """How a probe ended. A ``str``: ``result.status == "ok"`` and f-strings read as before."""
    OK = "ok"                  # ``outputs`` holds the plain arrays, ``types`` describes every returned value
    ERROR = "error"            # student code raised: ``error`` says where and what
    TIMEOUT = "timeout"        # out of wall-clock or CPU time: ``note`` says which
    CRASHED = "crashed"        # the process died (sandbox only): ``note`` says how
    BAD_OUTPUT = "bad-output"  # the child sent what the protocol does not allow (sandbox only)


# The keys of ``Result.error`` (all strings but ``not_implemented``, a bool).
ERROR_KEYS = ("where", "type", "not_implemented", "message", "detail", "traceback")


@dataclass
class Result:
    """One probe's answer.

    ``outputs``: the returned values that were plain numeric data, as exact ``np.ndarray``
    (``lab2check.plain.encode``); ``types``: a description of every returned value, arrays or
    not ("list", "ndarray subclass Liar"...); ``error``: with ``ERROR_KEYS`` when the status is
    ``error``; ``note``: the sandbox's explanation (a limit reached, how a process ended);
    ``seconds``: wall-clock time of the request; ``output_tail``: what student code printed
    during it (head and tail, bounded; empty for a local run, whose output goes to the terminal).
    """
    status: Status
    outputs: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)
    error: dict | None = None
    note: str = ""
    seconds: float = 0.0
    output_tail: str = ""

    def __post_init__(self):
        self.status = Status(self.status)  # a typo in a status is an error here, not a silent miss later

    @property
    def not_implemented(self) -> bool:
        """Student code raised NotImplementedError (the skeleton's stub): nothing was attempted."""
        return self.status is Status.ERROR and bool((self.error or {}).get("not_implemented"))


def error_of(exc) -> dict:
    """``Result.error`` for a ``lab2check.probes.StudentError`` (in the child or in a local run)."""
    return {"where": exc.where, "type": exc.type, "not_implemented": exc.not_implemented,
            "message": exc.describe(), "detail": exc.detail, "traceback": exc.traceback}
