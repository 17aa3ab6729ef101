"""OUT's layout on disk: the only code that spells a batch's folder and file names.

nbgrader's ``CourseDirectory.format_path`` is the model: every module that reads or writes OUT
(the batch, the similarity report, the review app, mail-back, the renderers' links) asks
``OutDir`` or takes a name from here, so moving a file is one edit. It imports nothing from the
grader, so any layer may use it (``grader.submission.figure`` writes a student folder's figure and
REPORT.md with these names).

OUT holds::

    grades.csv, summary.md, histogram.png   the class's results (grader.render.summary_md)
    similarity.html                 the near-duplicate report (grader.batch.similarity.compare), at the end
    students/<key>/report.json      the whole grade (Report.to_dict, hidden checks included)
                   results.json     Gradescope's format
                   feedback.md      for the student
                   feedback.html    none written by the batch: where a teacher puts one, mail-back
                                    attaches it beside feedback.md (grader.mailback)
                   loss_curves.png  the student's training losses beside the reference's
                   figure.<ext>     Q3.1's figure when the submission has an image (grader.submission.figure),
                                    shown in feedback.md for the teacher grading it by hand
                   REPORT.md        the student's REPORT.md (at most 1 MB), the written answers
                                    grader.review shows
                   code.json        the lab2/ sources, kept for the near-duplicate report
                   mail.json        a mail's From address, Message-ID, References and subject:
                                    what ``python -m grader mail-back`` answers (grader.mailback)
                   archive.json     which archive and rubric these are the results of, where it
                                    came from and the row's notes (grader.review's export rebuilds
                                    the row from it); written last, so it marks the folder complete
    gradebook.sqlite                the review app's hand grades (grader.review): never touched by a batch
    review/manual.csv, review/suggestions-<q>.json   the review app's export and its cache
    mail-back/journal.jsonl         every reply mail-back sent or drafted (grader.mailback.journal)
    mail-back/.lock                 held by a running mail-back (exclusive): two would send twice
    incoming/<mail|moodle>/...      archives taken out of mails and Moodle zips (kept: they are graded)
    moodle/                         feedback-files.zip and the filled worksheet (Moodle sources)
    .work/                          the workers' private extraction folders (removed at the end)
    .work-similarity/               the similarity report's unpacked archives (removed at the end)
    .probe-<hex>                    a Dask engine's check that its workers see OUT (removed after)
    .batch.lock                     held while a batch writes OUT (exclusive) or mail-back reads it
                                    (shared): two at once would mix rows

``<key>`` is the student's folder key (``grader.batch.plan``): a name key of at most
``names.MAX_KEY`` ASCII bytes, with the suffixes that make it unique, at most ``plan.MAX_FOLDER``
bytes in all.
"""
from dataclasses import dataclass
from pathlib import Path

# OUT's own files and folders
GRADES_CSV = "grades.csv"
SUMMARY_MD = "summary.md"
HISTOGRAM = "histogram.png"
SIMILARITY_HTML = "similarity.html"
STUDENTS = "students"
GRADEBOOK = "gradebook.sqlite"
REVIEW = "review"
MANUAL_CSV = "manual.csv"        # in review/
SUGGESTIONS = "suggestions-{question}.json"   # in review/
MAIL_BACK = "mail-back"
JOURNAL = "journal.jsonl"        # in mail-back/
MAIL_BACK_LOCK = ".lock"         # in mail-back/
INCOMING = "incoming"
MOODLE = "moodle"
WORK = ".work"
WORK_SIMILARITY = ".work-similarity"
PROBE = ".probe-{token}"
LOCK = ".batch.lock"

# a student's folder, students/<key>/
REPORT_JSON = "report.json"
RESULTS_JSON = "results.json"
FEEDBACK_MD = "feedback.md"
FEEDBACK_HTML = "feedback.html"  # never written by the batch (see above)
LOSS_CURVES = "loss_curves.png"
FIGURE = "figure"                # figure.<ext>: the suffix is the image's (grader.submission.figure)
REPORT_MD = "REPORT.md"
CODE_JSON = "code.json"
MAIL_JSON = "mail.json"
ARCHIVE_JSON = "archive.json"    # the marker: written last, its presence means the folder is complete


@dataclass(frozen=True)
class OutDir:
    """A batch's output folder ``root``: ``OutDir(out).student(key)``, ``.grades_csv``, ..."""
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def student(self, key: str, name: str | None = None) -> Path:
        """``students/<key>/``, or the file ``name`` in it (``REPORT_JSON``, ``ARCHIVE_JSON``...)."""
        folder = self.root / STUDENTS / key
        return folder if name is None else folder / name

    def student_folders(self) -> list[Path]:
        """Every ``students/<key>/`` there is (files beside them left out), sorted by key."""
        return sorted(p for p in (self.root / STUDENTS).glob("*") if p.is_dir())

    @property
    def students(self) -> Path:
        return self.root / STUDENTS

    @property
    def grades_csv(self) -> Path:
        return self.root / GRADES_CSV

    @property
    def summary_md(self) -> Path:
        return self.root / SUMMARY_MD

    @property
    def histogram(self) -> Path:
        return self.root / HISTOGRAM

    @property
    def similarity_html(self) -> Path:
        return self.root / SIMILARITY_HTML

    @property
    def gradebook(self) -> Path:
        return self.root / GRADEBOOK

    @property
    def review(self) -> Path:
        return self.root / REVIEW

    @property
    def manual_csv(self) -> Path:
        return self.root / REVIEW / MANUAL_CSV

    def suggestions(self, question: str) -> Path:
        """``review/suggestions-<question>.json``: the review app's cached merges of one question."""
        return self.root / REVIEW / SUGGESTIONS.format(question=question)

    @property
    def mail_back(self) -> Path:
        return self.root / MAIL_BACK

    @property
    def incoming(self) -> Path:
        return self.root / INCOMING

    @property
    def moodle(self) -> Path:
        return self.root / MOODLE

    @property
    def work(self) -> Path:
        return self.root / WORK

    @property
    def work_similarity(self) -> Path:
        return self.root / WORK_SIMILARITY

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    def probe(self, token: str) -> Path:
        """``.probe-<token>``: the empty file a Dask engine asks every worker to see (``token``: unique)."""
        return self.root / PROBE.format(token=token)
