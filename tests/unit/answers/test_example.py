"""The embedded example that `make grade` shows is the reference with two catalogue mistakes,
kept in step with the reference (regenerate it with the snippet below when this fails)."""

from grader import PROJECT, REFERENCE
from grader.answers import mutations

EXAMPLE = PROJECT / "tests" / "files" / "example" / "DOE_Jane_Lab2_DLCV"
PLANTED = {"single_neuron": ["no-clipping"], "hidden_layer": ["tanh-derivative"]}


def expected_source(module: str) -> str:
    source = (REFERENCE / "lab2" / f"{module}.py").read_text()
    for name in PLANTED.get(module, []):
        source = mutations.apply(mutations.by_name(name), source)
    return source


def test_example_is_the_reference_with_two_planted_mistakes():
    for path in sorted((REFERENCE / "lab2").glob("*.py")):
        got = (EXAMPLE / "lab2" / path.name).read_text()
        assert got == expected_source(path.stem), (
            f"{EXAMPLE / 'lab2' / path.name} is out of step with the reference: rewrite it with "
            f"tests.test_example.expected_source('{path.stem}')")
    assert (EXAMPLE / "REPORT.md").is_file()
