"""rubric.yaml's tolerances: checked by the rubric, held as lab2check's own ``Tolerances``."""
import dataclasses

import pytest
import yaml

from grader import RUBRIC
from grader.errors import UsageError
from grader.rubric import load
from lab2check.checks import Tolerances


def test_the_rubric_holds_lab2checks_tolerances_with_the_files_values():
    rubric = load(RUBRIC)
    assert type(rubric.tolerances) is Tolerances
    written = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))["tolerances"]
    assert dataclasses.asdict(rubric.tolerances) == written


def test_a_missing_section_or_key_takes_lab2checks_defaults(tmp_path):
    data = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    data["tolerances"] = {"rtol": 0.5}
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load(path).tolerances == Tolerances(rtol=0.5)
    del data["tolerances"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load(path).tolerances == Tolerances()


@pytest.mark.parametrize("section, says", [
    ({"rtol": 0}, "tolerances.rtol: Input should be greater than 0"),
    ({"purity_share": 1.5}, "tolerances.purity_share: Input should be less than or equal to 1"),
    ({"rtool": 1e-6}, "tolerances.rtool: Extra inputs are not permitted"),
])
def test_a_bad_tolerance_is_one_line_naming_the_key(tmp_path, section, says):
    data = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    data["tolerances"] = section
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(UsageError, match=f"rubric {path}: {says}"):
        load(path)
