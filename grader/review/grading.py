"""The class as the review app sees it: answers, groups, rubric items and each member's grade.

``Review`` is built once, before the server serves (``answers.load_class`` reads every
REPORT.md; the suggested merges take math-verify's time, and are cached): after that it is
read-only but for its rubric items, which an edit replaces (``save_items``). Grades are never
held here: each request reads them from the gradebook, so two servers or two tabs agree.

A member's grade (``Review.state``): its own grade when it has one for its current answer, else
its group's (the group after the merges the teacher confirmed). It needs grading again, shown
with the grade it had, when the answer changed since a grade last reached it (``stale``: its own
grade was given to another answer; ``changed``: ``seen`` holds another answer). Points:
the applied items' sum plus ``adjust``, kept within 0 and the written part's maximum.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

from grader import fsutil
from grader import rubric as rubric_mod
from grader.batch.outdir import OutDir
from grader.render.common import pts
from grader.review import answers as A
from grader.review import suggest
from grader.review.gradebook import Grade, Gradebook
from grader.rubric import Rubric


@dataclass
class State:
    grade: Grade | None        # what applies (None: not graded)
    source: str                # "own", "group" or ""
    stale: bool = False        # its own grade was given to an earlier answer
    changed: bool = False      # the answer changed since a grade last reached the student

    @property
    def graded(self) -> bool:
        return self.grade is not None and not self.stale and not self.changed


class Review:
    def __init__(self, out, rubric: Rubric, items_file, *, progress=None):
        self.out = Path(out)
        self.rubric = rubric
        self.items_file = Path(items_file)
        self.items = rubric_mod.load_items(self.items_file, rubric)
        self.gradebook_path = OutDir(self.out).gradebook
        gb = Gradebook(self.gradebook_path)
        self.salt = gb.salt()
        gb.close()
        self.answers = A.load_class(self.out, rubric)
        self.questions = list(self.answers)
        self.groups = {q: A.groups(self.answers[q], self.salt) for q in self.questions}
        self.group_by_id = {q: {g.id: g for g in gs} for q, gs in self.groups.items()}
        self.by_key = {q: {a.key: a for a in self.answers[q]} for q in self.questions}
        # Addresses name a student by an opaque id, never by the folder key (which is the name).
        self.anon = {a.key: hashlib.sha256(f"{self.salt}\0{a.key}".encode()).hexdigest()[:16]
                     for q in self.questions for a in self.answers[q]}
        self.by_anon = {v: k for k, v in self.anon.items()}
        self.suggested = {}
        for q in self.questions:
            if progress:
                progress(f"{q}: {len(self.answers[q])} answers in {len(self.groups[q])} groups")
            self.suggested[q] = suggest.cached(OutDir(self.out).suggestions(q), A.cache_key(self.answers[q]),
                                               lambda q=q: suggest.suggestions(self.groups[q]))

    def open(self) -> Gradebook:
        return Gradebook(self.gradebook_path)

    # --- rubric items ------------------------------------------------------------------------------

    def question_items(self, q: str) -> list:
        return list(self.items.questions.get(q, []))

    def save_items(self, q: str, items: list[dict]) -> None:
        """Replace a question's items (validated as the file is) and write the file."""
        data = self.items.model_dump()
        data["questions"][q] = items
        new = rubric_mod.RubricItems(**data)
        new.check_against(self.rubric, str(self.items_file))
        fsutil.atomic_write(self.items_file, rubric_mod.dump_items(new))
        self.items = new

    def max_points(self, q: str) -> float:
        return self.rubric.questions[q].manual

    def points(self, q: str, grade: Grade) -> float:
        by_id = {i.id: i for i in self.question_items(q)}
        total = sum(by_id[i].points for i in grade.items if i in by_id) + grade.adjust
        return round(min(max(total, 0.0), self.max_points(q)), 6)

    def comment(self, q: str, grade: Grade) -> str:
        """What the student reads: each applied item with its points, then the free comment."""
        by_id = {i.id: i for i in self.question_items(q)}
        parts = [f"{'+' if by_id[i].points >= 0 else ''}{pts(by_id[i].points)}: {by_id[i].text}"
                 for i in grade.items if i in by_id]
        if grade.adjust:
            parts.append(f"adjustment {'+' if grade.adjust > 0 else ''}{pts(grade.adjust)}")
        if grade.comment.strip():
            parts.append(grade.comment.strip())
        return "; ".join(parts)

    # --- grades --------------------------------------------------------------------------------

    def snapshot(self, q: str, gb: Gradebook) -> dict:
        return {"group": gb.group_grades(q), "own": gb.own_grades(q), "merges": gb.merges(q), "seen": gb.seen(q)}

    def canonical(self, gid: str, merges: dict[str, str]) -> str:
        seen = set()
        while gid in merges and gid not in seen:
            seen.add(gid)
            gid = merges[gid]
        return gid

    def state(self, a: A.Answer, snap: dict) -> State:
        own = snap["own"].get(a.key)
        changed = a.key in snap["seen"] and snap["seen"][a.key] != a.sha
        if own is not None:
            sha, grade = own
            return State(grade, "own", stale=sha != a.sha, changed=False)
        grade = snap["group"].get(self.canonical(a.group, snap["merges"]))
        return State(grade, "group" if grade else "", changed=changed and grade is not None)

    def merged_groups(self, q: str, snap: dict) -> list[A.Group]:
        """The question's groups with confirmed merges applied, in the stable order."""
        out: dict[str, A.Group] = {}
        for g in self.groups[q]:
            root = self.canonical(g.id, snap["merges"])
            if root not in self.group_by_id[q]:
                root = g.id
            out.setdefault(root, A.Group(root, [])).members.extend(g.members)
        for g in out.values():
            order = {a.key: i for i, a in enumerate(A.shuffled(g.members, self.salt))}
            g.members.sort(key=lambda a: order[a.key])
        return list(out.values())

    def progress(self, q: str, snap: dict) -> tuple[int, int]:
        answers = self.answers[q]
        return sum(self.state(a, snap).graded for a in answers), len(answers)
