"""How late a submission is, and what that costs: the rubric's ``lateness`` applied to one time.

Pure functions of the rubric and a received time; the batch calls ``assess`` for every row at
every run (like the hand-given points), so a received time known later (Moodle's worksheet given
on a second run) updates the totals without regrading. What it is not: where the received time
comes from (``grader.batch.intake``: a mail's ``Date`` header, Moodle's submission time) or how it is
shown (the renderers read the report).

The rules:
- the deadline is the group's (``lateness.deadlines``, group names lower-cased), else
  ``lateness.default``; with neither, nothing is late and ``late_days`` is ``None``;
- a submission without a received time (a folder of archives) is never late either;
- ``late_days`` counts the *started* days of 24 hours after the deadline plus
  ``policy.grace_minutes``: one minute late is one day, 24 h 1 min is two;
- the penalty is ``policy.per_started_day`` per day, counting at most ``policy.max_days`` days.
"""
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Assessment:
    deadline: datetime | None      # the deadline that applied (None: none)
    late_days: int | None          # started days late (0: on time; None: no deadline or no time)
    penalty: float                 # points taken

    def line(self, received: datetime | None) -> str:
        """One sentence for the student's feedback (empty when there is nothing to say)."""
        if self.deadline is None or received is None:
            return ""
        when = f"received {iso(received)}, deadline {iso(self.deadline)}"
        if not self.late_days:
            return f"Submission {when}: on time."
        days = f"{self.late_days} started day{'s' if self.late_days != 1 else ''} late"
        cost = f": late penalty -{_pts(self.penalty)}" if self.penalty else " (no late penalty in the rubric)"
        return f"Submission {when}: {days}{cost}."


def iso(when: datetime) -> str:
    """ISO 8601 to the second, with its offset: ``2026-12-10T23:59:00+01:00``."""
    return when.replace(microsecond=0).isoformat()


def deadline_for(lateness, group: str) -> datetime | None:
    return lateness.deadlines.get((group or "").strip().lower(), lateness.default)


def assess(lateness, group: str, received: datetime | None) -> Assessment:
    """The deadline of ``group``, the started days late and the penalty of ``received``."""
    deadline = deadline_for(lateness, group)
    if deadline is None or received is None:
        return Assessment(deadline, None, 0.0)
    policy = lateness.policy
    over = received - (deadline + timedelta(minutes=policy.grace_minutes))
    days = 0 if over <= timedelta(0) else math.ceil(over / DAY)
    counted = days if policy.max_days is None else min(days, policy.max_days)
    return Assessment(deadline, days, round(counted * policy.per_started_day, 6))


def on_time(lateness, group: str, received: datetime | None) -> bool:
    """Whether ``received`` is before the group's deadline (true without a deadline or a time)."""
    deadline = deadline_for(lateness, group)
    return deadline is None or received is None or received <= deadline + timedelta(
        minutes=lateness.policy.grace_minutes)


def _pts(x: float) -> str:
    return f"{round(float(x), 2) + 0.0:g}"
