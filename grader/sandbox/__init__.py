"""Run student code in a sandboxed child process that answers probe requests.

Student code never runs in the grader's process. ``Child(folder, limits)`` owns one long-lived
process per submission; ``child.request(probe, arrays, options, timeout)`` runs
``lab2check.probes.run`` there and gives a ``lab2check.result.Result`` (status ``ok``,
``error``, ``timeout``, ``crashed`` or ``bad-output``), never an exception for anything student
code does. ``sandbox_status()`` says which sandbox is used, for the report's first line.

One job per module:
- ``launch``: which sandbox (bubblewrap, or resource limits only), bubblewrap's command read
  from a pipe, the binds, the child's environment and resource limits;
- ``process``: ``Child``, one submission's process, started when needed and restarted when it
  fails, and how each request ended;
- ``running``: one started process (``Process``): the request/reply loop over its pipes, the
  CPU watch, the bounded output buffer (``Output``) and the ``_Killer``;
- ``protocol``: the wire format, both sides (the grader's ``Reader``, the child's ``send``);
- ``child``: the script that runs inside the sandbox, confines itself and serves requests;
  with ``protocol.py`` it is all of the grader the sandbox shows (``lab2check`` beside them);
- ``slots``: the dedicated uid of each child, and what that uid still runs;
- ``cgroup`` and ``seccomp_filter``: the host's limits on memory and processes, and the
  system-call filter;
- ``notes``: the sentences that say how a request ended when it did not return.
"""
from grader.sandbox.launch import sandbox_status
from grader.sandbox.process import Child
from grader.sandbox.slots import BASE_UID, MAX_SLOTS, SandboxError, processes_of
from lab2check.result import Result, Status

__all__ = ["BASE_UID", "MAX_SLOTS", "Child", "Result", "SandboxError", "Status", "processes_of", "sandbox_status"]
