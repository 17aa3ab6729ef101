"""Command line: ``python -m grader grade PATH``, ``python -m grader batch SOURCE`` and
``python -m grader mail-back OUT`` (replies by mail after a mail batch, ``grader.mailback``).

A thin layer over ``grader.api`` (and ``grader.batch.run``). Exit status: 0 when graded, whatever
the score; 2 for a usage error (one clear line on stderr: also a Dask scheduler that does not
answer, or workers that cannot grade); 3 when the grader itself failed (or the Dask cluster went
away in the middle of a batch: the rows written are kept).
What it prints and writes goes through the renderers and ``grader.render.neutralise``: control
characters from a student's names or messages are shown escaped, the JSON files are strict.
"""
import argparse
import contextlib
import os
import sys
from pathlib import Path

from grader.errors import EngineLost, UsageError
from grader.results import RowStatus


def _parser():
    p = argparse.ArgumentParser(prog="python -m grader", description="The Lab 2 autograder.")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one submission (a folder holding lab2/, or an archive)")
    g.add_argument("path")
    g.add_argument("--rubric", help="rubric file (default: the project's rubric.yaml)")
    g.add_argument("--json", metavar="FILE", help="write Gradescope's results.json")
    g.add_argument("--md", metavar="FILE", help="write the student's feedback in Markdown")
    g.add_argument("--report", metavar="FILE", help="write the whole grade as JSON (hidden details included)")
    g.add_argument("--manual", metavar="CSV", help="hand-given points: question, points, comment")
    g.add_argument("--jobs", type=int, default=2, help="children run side by side for one submission (1 or 2)")
    b = sub.add_parser("batch", help="grade every submission of a folder, a mailbox or a Moodle download")
    b.add_argument("source", metavar="SOURCE",
                   help="a folder of archives, an mbox file, a Maildir, a folder of .eml files, or Moodle's "
                        "'Download all submissions' zip (or its unpacked folder)")
    b.add_argument("--out", default="out", help="output folder (default: out)")
    b.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: the cores)")
    where = b.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="grade on a running Dask cluster (tcp://HOST:8786)")
    where.add_argument("--cluster", metavar="local:N|slurm", help="start a Dask cluster: N local worker processes, "
                       "or Slurm jobs (dask-jobqueue) described by --cluster-config")
    b.add_argument("--cluster-config", metavar="FILE", help="the Slurm cluster's YAML: queue, cores, memory, "
                   "walltime, jobs, setup (shell lines run first in each job)")
    b.add_argument("--rubric")
    b.add_argument("--manual", metavar="CSV", help="hand-given points: student, question, points, comment")
    b.add_argument("--force", action="store_true", help="regrade archives that already have results")
    b.add_argument("--compare-with", metavar="FOLDER", help="earlier years' submissions (archives or folders "
                   "holding lab2/) also compared in similarity.html; never graded")
    b.add_argument("--moodle-worksheet", metavar="FILE",
                   help="Moodle's grading worksheet (CSV): written back filled into OUT/moodle/")
    _mail_back_parser(sub)
    _review_parser(sub)
    return p


def _mail_back_parser(sub) -> None:
    m = sub.add_parser("mail-back", help="after a mail batch: one threaded reply per graded student (grader.mailback)")
    m.add_argument("out", metavar="OUT", help="the batch's output folder")
    m.add_argument("--from", dest="sender", required=True, metavar="ADDRESS",
                   help="the teacher's address the replies come from: \"Name <teacher@univ.example>\"")
    way = m.add_mutually_exclusive_group(required=True)
    way.add_argument("--mbox", metavar="FILE", help="append the replies as drafts to this mbox file (to import)")
    way.add_argument("--smtp", metavar="HOST:PORT", help="send through this server (dry run unless --send); "
                     "login from LAB2_SMTP_USER/LAB2_SMTP_PASSWORD or ~/.netrc")
    tls = m.add_mutually_exclusive_group()
    tls.add_argument("--ssl", dest="security", action="store_const", const="ssl",
                     help="implicit TLS (port 465) instead of STARTTLS")
    tls.add_argument("--plain", dest="security", action="store_const", const="plain",
                     help="no TLS: a relay on this machine only, never with a login")
    m.add_argument("--cafile", metavar="FILE", help="CA certificates to check the server's certificate with")
    m.add_argument("--send", action="store_true", help="really send (with --smtp; without it, a dry run)")
    m.add_argument("--resend", action="store_true", help="send a new reply to students whose grade changed since "
                   "their reply, saying what changed")
    m.add_argument("--pause", type=float, default=2.0, metavar="SECONDS", help="between two messages (default 2)")
    m.add_argument("--pending-ok", action="store_true", help="reply even where written parts are not graded yet")


def _review_parser(sub):
    r = sub.add_parser("review", help="grade the written questions of a batch's output in a local web app")
    r.add_argument("out", metavar="OUT", help="the batch's output folder")
    r.add_argument("--export", action="store_true", help="merge the gradebook's hand grades into OUT and exit")
    r.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)")
    r.add_argument("--port", type=int, default=8700, help="port (default: 8700; 0 picks a free one)")
    r.add_argument("--rubric")
    r.add_argument("--items", metavar="FILE", help="rubric items of the written parts (default: rubric_items.yaml "
                   "beside the rubric)")
    r.add_argument("--grader", metavar="NAME", help="who grades, kept with every grade (default: the user name)")


def _review(args) -> int:
    from grader import api
    from grader import rubric as rubric_mod
    from grader.review import main as review_main
    rubric = api.load_rubric(args.rubric)
    items = args.items or rubric_mod.items_path(args.rubric or rubric_mod.RUBRIC)
    return review_main.run(args.out, rubric, items, export=args.export, host=args.host, port=args.port,
                           grader_name=args.grader)


def _write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _grade(args) -> int:
    from grader import api
    from grader.render import neutralise as N
    from grader.render import render_markdown, render_terminal, write_json
    rubric = api.load_rubric(args.rubric)
    report = api.grade(args.path, rubric, concurrency=max(1, min(2, args.jobs)), manual_csv=args.manual,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(render_terminal(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_json(report, args.json)
    if args.md:
        _write(args.md, render_markdown(report))
    if args.report:
        _write(args.report, N.json_dumps(report.to_dict(), indent=1) + "\n")
    written = [f for f in (args.json, args.md, args.report) if f]
    if written:
        print("written: " + ", ".join(written))
    return 3 if report.status == RowStatus.INTERNAL_ERROR else 0


def _batch(args) -> int:
    from grader import api
    from grader.batch.run import run
    rubric = api.load_rubric(args.rubric)
    dask = None   # a DaskEngine: it closes its client (and a cluster it started) on leaving
    if args.scheduler or args.cluster or args.cluster_config:
        if args.jobs:
            raise UsageError("--jobs is for local workers: on a cluster, every worker grades one archive at a time")
        from grader.batch.engines import dask_engine  # imported only here: a local batch does not pay for Dask
        dask = dask_engine.open_engine(args.scheduler, args.cluster, args.cluster_config)
    with dask if dask is not None else contextlib.nullcontext():
        result = run(args.source, args.out, rubric, jobs=args.jobs or os.cpu_count() or 1,
                     force=args.force, manual_csv=args.manual, compare_with=args.compare_with,
                     worksheet=args.moodle_worksheet, engine=dask if args.scheduler or args.cluster else None)
    return 3 if result.internal_errors else 0


def _mail_back(args) -> int:
    from grader import mailback
    try:
        outcome = mailback.run(args.out, sender=args.sender, mbox=args.mbox, smtp=args.smtp,
                               security=args.security or "starttls", cafile=args.cafile, send=args.send,
                               resend=args.resend, pause=args.pause, pending_ok=args.pending_ok)
    except KeyboardInterrupt:
        print("interrupted: what was sent is in the journal; run the same command again to send the rest",
              file=sys.stderr)
        raise
    out, err = mailback.lines(outcome)
    for line in err:
        print(line, file=sys.stderr)
    for line in out:
        print(line)
    return 3 if outcome.stopped else 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"grade": _grade, "batch": _batch, "mail-back": _mail_back, "review": _review}[args.command](args)
    except UsageError as err:
        from grader.render.neutralise import terminal
        print(f"error: {terminal(err, newlines=False)}", file=sys.stderr)  # it may quote a file name
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EngineLost as err:   # a cluster gone mid-batch: the rows written are kept
        from grader.render.neutralise import terminal
        print(f"error: {terminal(err, newlines=False)}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # `python -m grader grade x | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
