"""The near-duplicate report (``grader.batch.similarity.near_duplicates``, ``...compare``, similarity.html).

The class is built at test time (``classroom``): four independent solutions in different styles,
written into the skeleton as students do, the reference, and the copies a teacher must see: one
with renamed variables and reordered functions, one with comments and docstrings rewritten, one
copy of the reference. Every test compares ``lab2`` folders directly (well under a second each);
the batch that writes the report is ``tests/sandbox/test_similarity_batch.py``.
"""
import itertools
from pathlib import Path

import pytest
from builders import archives, classroom

from grader.batch.similarity import compare, fingerprint
from grader.batch.similarity import near_duplicates as nd
from grader.errors import UsageError
from grader.render.similarity_html import render
from grader.rubric import load as load_rubric

RUBRIC_PATH = Path(__file__).parents[2] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
INDEPENDENT = tuple(classroom.STYLES)          # loops, classes, helpers, terse
COPIES = {"copy_renamed": "loops", "copy_recommented": "classes", "copy_reference": "reference"}


def student(key: str, lab2: Path) -> compare.Entry:
    files, notes = nd.read_package(lab2)
    assert notes == []
    return compare.Entry(key, "student", key, files)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Each student's ``lab2`` folder on disk."""
    root = tmp_path_factory.mktemp("class")
    code = {style: classroom.solution(style) for style in INDEPENDENT}
    code["copy_renamed"] = classroom.reorder(classroom.rename(code["loops"], seed=7), seed=7)
    code["copy_recommented"] = classroom.recomment(code["classes"])
    code["copy_reference"] = classroom.reference()
    code["empty_a"] = classroom.skeleton()
    code["empty_b"] = classroom.skeleton()
    return {key: classroom.write(files, root / key) for key, files in code.items()}


@pytest.fixture(scope="module")
def result(folders):
    entries = [student(k, p) for k, p in sorted(folders.items())] + [compare.reference_entry()]
    return compare.compare(entries, RUBRIC.similarity)


def scores(result) -> dict[frozenset, float]:
    return {frozenset(p.keys): p.score for p in result.pairs}


def test_the_disguises_change_the_text_and_defeat_the_identical_code_check(folders):
    original, renamed = (folders["loops"] / "hidden_layer.py").read_text(), (folders["copy_renamed"] /
                                                                           "hidden_layer.py").read_text()
    assert "n_examples" in original and "n_examples" not in renamed          # variables renamed
    order = [line.split("(")[0] for line in original.splitlines() if line.startswith("def ")]
    moved = [line.split("(")[0] for line in renamed.splitlines() if line.startswith("def ")]
    assert order != moved and sorted(order) == sorted(moved)                              # reordered
    recommented = (folders["copy_recommented"] / "single_neuron.py").read_text()
    assert "# the answer of this step" in recommented and "I wrote this part myself" in recommented
    assert "Elementwise ``1 / (1 + exp(-z))``" not in recommented
    # The identical-code fingerprints of the batch see the renamed copy as different code.
    assert fingerprint.fingerprint(folders["loops"])["lab2"] != fingerprint.fingerprint(folders["copy_renamed"])["lab2"]


def test_copies_rank_above_every_independent_pair(result):
    s = scores(result)
    copy_pairs = [frozenset((c, o)) for c, o in COPIES.items()]
    independent = [frozenset(p) for p in itertools.combinations(INDEPENDENT + ("reference",), 2)]
    lowest_copy = min(s[p] for p in copy_pairs)
    highest_independent = max(s[p] for p in independent)
    assert lowest_copy > highest_independent, (lowest_copy, highest_independent)
    assert lowest_copy >= 0.75 and highest_independent < 0.25
    # The copies come first in the ranking.
    top = [frozenset(p.keys) for p in result.pairs[:len(copy_pairs)]]
    assert set(top) == set(copy_pairs)


def test_copies_are_flagged_and_independent_solutions_are_not(result):
    assert result.flags == {
        "classes": ["copy_recommented"], "copy_recommented": ["classes"],
        "loops": ["copy_renamed"], "copy_renamed": ["loops"],
        "copy_reference": ["reference"],
    }
    for p in result.pairs:
        assert p.flagged == (p.score >= RUBRIC.similarity.threshold)


def test_the_skeleton_alone_scores_zero(result, folders):
    s = scores(result)
    assert s[frozenset(("empty_a", "empty_b"))] == 0.0
    assert max(v for pair, v in s.items() if "empty_a" in pair) == 0.0
    # Its own code is all boilerplate: nothing of it is left to compare.
    skip = nd.boilerplate(compare.skeleton_files())
    assert nd.fingerprints(nd.read_package(folders["empty_a"])[0], skip).hashes == set()
    # Without taking the skeleton out, two empty kits would look identical.
    bare = [nd.fingerprints(nd.read_package(folders[k])[0]) for k in ("empty_a", "empty_b")]
    assert nd.score(*bare) == 1.0


def test_one_module_copied_ranks_first_among_the_rest(folders):
    mixed = nd.read_package(folders["terse"])[0]
    mixed["lab2/multiclass.py"] = (folders["helpers"] / "multiclass.py").read_text()
    entries = [student(k, folders[k]) for k in INDEPENDENT] + [
        compare.Entry("mixed", "student", "mixed", mixed)]
    res = compare.compare(entries, RUBRIC.similarity)
    assert {res.pairs[0].a.key, res.pairs[0].b.key} == {"mixed", "terse"}
    assert {res.pairs[1].a.key, res.pairs[1].b.key} == {"mixed", "helpers"}
    assert res.pairs[1].score > max(p.score for p in res.pairs[2:])


def test_the_same_class_gives_the_same_html_bytes(folders, result):
    again = compare.compare([student(k, p) for k, p in sorted(folders.items(), reverse=True)]
                                      + [compare.reference_entry()], RUBRIC.similarity)
    assert render(again) == render(result)


def test_similarity_html_shows_the_pairs_side_by_side_with_the_shared_code_marked(result):
    html = render(result)
    assert html.count('id="pair-') == len(result.shown) and len(result.shown) >= 5
    first = html[html.index('id="pair-1"'):html.index('id="pair-2"')]
    assert "copy_recommented" in first and "classes" in first and "<mark>" in first
    assert "flagged" in first
    assert "http" not in html.replace("http-equiv", "") and "<script" not in html and " src=" not in html


def test_hostile_names_and_code_are_escaped(folders):
    files = nd.read_package(folders["terse"])[0]
    hostile = dict(files)
    hostile['lab2/<img src=x onerror=alert(1)>.py'] = ("# <script>alert('owned')</script>\n"
                                                      + classroom.solution("loops")["lab2/multiclass.py"])
    hostile["lab2/single_neuron.py"] = files["lab2/single_neuron.py"].replace(
        "import numpy as np", "import numpy as np  # </pre><script>alert(2)</script>")
    copy = dict(hostile)
    entries = [compare.Entry("a<b>", "student", "<script>alert(3)</script>", hostile),
               compare.Entry("b&c", "student", '"><iframe>', copy)]
    res = compare.compare(entries, RUBRIC.similarity)
    assert res.flags == {"a<b>": ["b&c"], "b&c": ["a<b>"]}
    html = render(res)
    for raw in ("<script", "<img", "<iframe", "</pre><script", "a<b>", '"><iframe'):
        assert raw not in html, raw
    for escaped in ("&lt;script&gt;alert(3)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;.py",
                    "&lt;/pre&gt;&lt;script&gt;alert(2)", "a&lt;b&gt;", "b&amp;c", "&quot;&gt;&lt;iframe&gt;",
                    "# &lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;"):
        assert escaped in html, escaped


def test_a_flag_name_cannot_break_the_csv_cell():
    assert compare.flag_name("earlier:a;b\nc") == "earlier:a_b_c"


def test_earlier_submissions_are_compared_with_students_only(folders, tmp_path):
    earlier = tmp_path / "earlier"
    (earlier / "ROE Jane 2024").mkdir(parents=True)
    classroom.write(classroom.solution("helpers"), earlier / "ROE Jane 2024")
    archives.write_tar(earlier / "OLD Student Lab2 DLCV.tar.bz2",
                       {f"old/{k}": v.encode() for k, v in classroom.recomment(classroom.solution("terse")).items()})
    (earlier / "broken.tar.bz2").write_bytes(b"BZh9 not really")
    (earlier / ".hidden").mkdir()
    entries, notes = compare.earlier_entries(earlier, RUBRIC, tmp_path)
    assert [e.key for e in entries] == ["earlier:OLD Student Lab2 DLCV.tar.bz2", "earlier:ROE Jane 2024"]
    assert len(notes) == 1 and notes[0].startswith("--compare-with: broken.tar.bz2 left out: ")
    res = compare.compare([student(k, folders[k]) for k in ("terse", "loops")] + entries
                                    + [compare.reference_entry()], RUBRIC.similarity)
    assert res.flags == {"terse": ["earlier:OLD Student Lab2 DLCV.tar.bz2"]}
    assert all("student" in (p.a.role, p.b.role) for p in res.pairs)   # earlier/reference never paired
    assert len(res.pairs) == 1 + 2 * 3


def test_the_threshold_is_validated_like_the_rest_of_the_rubric(tmp_path):
    bad = tmp_path / "rubric.yaml"
    bad.write_text(RUBRIC_PATH.read_text() + "similarity: {threshold: 1.5}\n")
    with pytest.raises(UsageError, match=r"similarity\.threshold"):
        load_rubric(bad)
    bad.write_text(RUBRIC_PATH.read_text() + "similarity: {treshold: 0.5}\n")
    with pytest.raises(UsageError, match=r"similarity\.treshold"):
        load_rubric(bad)


def test_code_json_is_kept_for_one_archive_only(folders, tmp_path):
    nd.save_code(folders["loops"], tmp_path, "ab" * 32)
    assert nd.load_code(tmp_path, "ab" * 32) == nd.read_package(folders["loops"])[0]
    assert nd.load_code(tmp_path, "cd" * 32) is None     # another archive's code is never used


def test_a_class_sharing_one_base_is_one_cluster_not_every_pair(folders, tmp_path):
    """Twelve students hand in the reference, each renamed and reordered their own way, beside two
    independent solutions and one pair that copied each other: 78 flagged pairs among the
    thirteen entries of the cluster, which similarity.html names once, with the member closest to
    all the others, listing 12 pairs that join them all (each member beside the one it shares most
    with), while grades.csv's flags still name every flagged pair."""
    reference = classroom.reference()
    entries = [student(k, folders[k]) for k in ("loops", "terse", "copy_renamed")]
    for i in range(12):
        code = classroom.reorder(classroom.rename(reference, seed=100 + i), seed=100 + i)
        entries.append(student(f"base_{i:02d}", classroom.write(code, tmp_path / f"base_{i:02d}")))
    res = compare.compare(entries + [compare.reference_entry()], RUBRIC.similarity)
    inside = [p for p in res.flagged if p.a.key.startswith("base_")]
    assert len(inside) == 78                                  # every two of the thirteen
    [cluster] = res.clusters                                 # loops ~ copy_renamed is a pair, not a cluster
    assert [e.key for e in cluster.members] == [f"base_{i:02d}" for i in range(12)] + ["reference"]
    keys = [e.key for e in cluster.members]
    score = {frozenset(p.keys): p.score for p in res.pairs}
    mean = {k: sum(score[frozenset((k, o))] for o in keys if o != k) / 12 for k in keys}
    assert cluster.centre.key == max(keys, key=mean.get) and cluster.mean == pytest.approx(max(mean.values()))
    assert len(cluster.pairs) == 78 and len(cluster.spanning) == 12
    reached = {cluster.centre.key}
    for _ in range(12):                                      # the 12 pairs join all 13 entries
        reached |= {k for p in cluster.spanning if set(p.keys) & reached for k in p.keys}
    assert reached == set(keys)
    for k in keys:                                           # each beside the one it shares most with
        best = max((p for p in cluster.pairs if k in p.keys), key=lambda p: p.score)
        assert best in cluster.spanning, k
    shown = [frozenset(p.keys) for p in res.shown if p.flagged]
    assert len(shown) == 13 and frozenset(("copy_renamed", "loops")) in shown
    assert not any(k.startswith("base_") for pair in map(frozenset, (p.keys for p in res.shown if not p.flagged))
                   for k in pair if all(x.startswith("base_") or x == "reference" for x in pair))
    assert res.flags["base_00"] == [f"base_{i:02d}" for i in range(1, 12)] + ["reference"]
    html = render(res)
    assert html.count('<li id="cluster-') == 1 and "Cluster 1</b>: 13 entries, 78 flagged pairs" in html
    assert "12 of them listed" in html and html.count('id="pair-') == len(res.shown)
    assert html.count('<a href="#cluster-1">1</a>') == 12
    from grader.render.summary_md import TOP_SIMILAR, _similar_section
    text = "\n".join(_similar_section(res))
    assert ("- Cluster 1: 13 entries joined by 78 flagged pairs, closest to all the others: "
            f"{cluster.centre.key}") in text
    assert text.count("| yes |") == min(13, TOP_SIMILAR) and f"({13 - TOP_SIMILAR} more listed in similarity" in text
