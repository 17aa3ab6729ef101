"""The PNGs: created, valid, small, and byte-for-byte the same on every run."""
import math

import pytest

from grader.render.plots import histogram_png, loss_curves_png
from grader.results import QuestionResult, Report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _curve(start, scale, floor=0.02, n=500):
    return [start * math.exp(-k / scale) + floor for k in range(n)]


CURVES = {
    "single_neuron": {"student": _curve(0.7, 60), "reference": _curve(0.69, 50)},
    "hidden_layer": {"student": [0.7, 0.5, float("nan"), float("nan")], "reference": _curve(0.7, 40)},
    "multiclass": {"reference": _curve(2.3, 80)},  # the student's run timed out
}


def report() -> Report:
    return Report("DOE John", "x.tar.bz2", curves=CURVES, questions=[
        QuestionResult("q3_3", "multiclass", 2.5, status="timeout", summary="train took more than 180 s")])


def _png(path) -> bytes:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert b"Software" not in data  # the matplotlib version would change the bytes
    assert len(data) < 150_000
    return data


@pytest.mark.parametrize("source", [report, lambda: CURVES])
def test_loss_curves_png_is_deterministic(tmp_path, source):
    first = _png(loss_curves_png(source(), tmp_path / "a.png"))
    second = _png(loss_curves_png(source(), tmp_path / "b.png"))
    assert first == second


def test_loss_curves_png_with_no_curve_at_all(tmp_path):
    _png(loss_curves_png({}, tmp_path / "empty.png"))


def test_histogram_png_is_deterministic(tmp_path):
    totals = [12, 15.5, 20, 8, 13, 13.5, 0, 19, float("nan")]
    first = _png(histogram_png(totals, tmp_path / "a.png"))
    assert first == _png(histogram_png(totals, tmp_path / "b.png", total_max=20))
    assert first != _png(histogram_png(totals[:3], tmp_path / "c.png"))
    _png(histogram_png([], tmp_path / "empty.png"))
