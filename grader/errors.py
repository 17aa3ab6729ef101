"""The grader's exceptions, and what each branch costs: an exit code, a row, or a question.

Our exception tree (``*`` defined here; the others stay beside the code that raises them)::

    * UsageError                     the teacher's mistake: one line on stderr, exit 2
      x ArchiveError                 grader.submission.archive_members: an archive that cannot be unpacked safely
      x PackageError                 grader.submission.locate: no lab2/ package, or more than one
      x MarkerError                  grader.authoring.skeleton: a malformed solution region
      (also raised as UsageError itself: a wrong path, a bad rubric, worksheet, manual CSV or
       cluster file, --out inside SOURCE, a Dask scheduler that does not answer, workers that
       cannot grade, a lock on OUT held by another batch or mail-back)
    * EngineLost                     the grader's own: a cluster gone mid-batch, exit 3
    SandboxError                     grader.sandbox.slots: the sandbox itself failed (grader's own)
    CgroupError(OSError)             grader.sandbox.cgroup: a cgroup could not be made (grader's own:
                                     the child does not start, a SandboxError)
    BadOutput                        grader.sandbox.protocol: the child broke the protocol (student's)
    HeaderTooLarge(ValueError)       grader.batch.intake.mail: a mail over the caps (student's)
    Refused, Gone                    grader.mailback.deliver: the server refused one reply (that
                                     student's row in the journal) / went away (stop, exit 3)
    StudentError, CallTimeout,       lab2check (inside the sandboxed child): what student code
    Diverged(BaseException)          raised, ran too long, or a training that diverged

Three kinds of failure, never mixed (a grader failure is never a student's zero):

- **The teacher's** (``UsageError`` and its subclasses): caught by ``grader.cli.main``, printed as
  ``error: <one line>`` and exit status 2, before any grading where it can be checked first.
  ``ArchiveError`` and ``PackageError`` are the teacher's only in ``python -m grader grade``
  (the path given is not a gradable submission); in a batch they are the *student's*.
- **The student's**: never an exception that leaves the grader and never an exit code. A whole
  submission's is ``grader.results.RowStatus`` (``bad-archive`` for ``ArchiveError``,
  ``no-package`` for ``PackageError``, ``import-error``, ``timeout``, ``no-archive``,
  ``bad-message`` for ``HeaderTooLarge``), one question's is ``grader.results.QuestionStatus``
  (``error`` for ``StudentError``, ``timeout``, ``crashed`` for ``BadOutput``...), one reply's
  is its line in mail-back's journal (``Refused``).
- **The grader's own**: any other exception around one submission becomes its report with
  ``RowStatus.INTERNAL_ERROR`` (a batch row, retried by the next run); the command then exits 3
  (``grade`` whose report is ``internal-error``, ``batch`` with any ``internal-error`` row, a
  mail-back stopped by ``Gone``, a batch whose ``EngineLost``: the rows written are kept).

The other exit codes of ``grader.cli.main``: 0 when the command did its job, whatever the
grades; 130 on Ctrl-C (``KeyboardInterrupt``, after a batch has written every finished row: the
same command again finishes the rest); a closed stdout (``BrokenPipeError``, ``| head``) is 0.
"""


class UsageError(Exception):
    """Bad input from the teacher (a wrong path, a bad rubric, a broken archive): one clear line."""


class EngineLost(Exception):
    """The engine stopped answering in the middle of a batch (a Dask scheduler that went away).

    The archives done so far keep their rows; the others have none yet, and running the same
    command again grades them (like an interrupted batch)."""
