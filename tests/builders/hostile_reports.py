"""REPORT.md files a student can write to stop or swamp the grader (issue 22, finding 7), made at
test time: each ``name -> text``. ``SMALL`` are the reproductions of the issue (a few KB each);
``AT_CAP`` fill ``report_md.MAX_REPORT_BYTES`` (what the grader reads at most of any REPORT.md,
whatever the archive caps allow on disk), for the resource checks (tests/test_report_md.py,
bench/report_md.py).
"""
MAX_REPORT_BYTES = 2 << 20   # grader.submission.report_md's (written out: these files predate it)
MAX_YAML_CHARS = 64 << 10


def _block(body: str) -> str:
    return f"# Lab 2\n\n```yaml\n{body}\n```\n"


def _value(text: str) -> str:
    return _block(f"loss_500:\n  single_neuron: {text}\n  hidden_layer: 0.015\n  multiclass: 0.12")


def laughs(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each anchor a list of ``width`` aliases of the one before (558 bytes
    expand to 9**9 strings)."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f'{names[0]}: &{names[0]} [' + ",".join(['"lol"'] * width) + "]"]
    lines += [f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * width) + "]" for prev, cur in zip(names, names[1:])]
    return _block("\n".join(lines) + f"\nloss_500:\n  single_neuron: *{names[-1]}\n  hidden_layer: *{names[-1]}")


def _fill(unit: str, size: int = MAX_REPORT_BYTES) -> str:
    return unit * (size // len(unit))


SMALL = {
    "401 digits": _value("9" * 401),
    "5,001 digits": _value("9" * 5001),
    "5,001 digits, quoted": _value('"' + "9" * 5001 + '"'),
    "3,000 nested lists": _value("[" * 3000 + "]" * 3000),
    "3,000 nested mappings": _value("{a: " * 3000 + "1" + "}" * 3000),
    "YAML aliases": laughs(),
    "a merge key": _block("base: &b {single_neuron: 0.1}\nloss_500:\n  <<: *b"),
    "a huge list": _value("[" + ",".join(["1"] * 5000) + "]"),
    "a huge key": _block("loss_500:\n  " + "k" * 50000 + ": 1\n  single_neuron: x"),
}

AT_CAP = {
    "<img  repeated": _fill("<img "),
    "![ repeated": _fill("!["),
    "![a]( repeated": _fill("![a](   "),
    "a fence of a million backticks": "`" * (MAX_REPORT_BYTES // 2) + "\n" + _fill("a\n", MAX_REPORT_BYTES // 2),
    "100,000 loss_500 blocks": _fill("```yaml\nloss_500: [\n```\n"),
    "one loss_500 block of the whole file": "```yaml\nloss_500:\n" + _fill("  - [1, 2, {a: 3}]\n"),
    "a YAML block at the loader's cap": "```yaml\nloss_500: [" + _fill("1,", MAX_YAML_CHARS - 40) + "1]\n```\n",
    "lines of two characters": _fill("ab\n"),
    "an ASCII drawing of the whole file": _fill("+--+\n"),
    "a table of the whole file": _fill("|-|\n"),
    "over the cap, then the block": _fill("x" * 79 + "\n", MAX_REPORT_BYTES * 3) + _value("0.03"),
}
