"""The freshness rule of the kit's fixture files (grader.authoring.fixtures.stale): what one machine's
rounding changes is fresh, what a change of case, reference or catalogue changes is stale, and
the message names the array and the largest difference. The whole comparison against a fresh
computation is tests/test_kit.py::test_committed_fixtures_are_fresh."""
import copy
import dataclasses

import numpy as np
import pytest

from grader.authoring import fixtures


@pytest.fixture(scope="module")
def committed():
    return fixtures.read()


def _float_array(arrays, prefix="exp|"):
    """The first float array of the committed fixtures whose values are all of order one."""
    return next(name for name in sorted(arrays) if name.startswith(prefix) and arrays[name].dtype == np.float64
                and arrays[name].size and 0.1 < np.abs(arrays[name]).max() < 10)


def test_committed_fixtures_compared_with_themselves_are_fresh(committed):
    assert fixtures.stale(committed, copy.deepcopy(committed)) == []


def test_another_machines_last_place_is_fresh(committed):
    meta, arrays = copy.deepcopy(committed)
    for name, a in arrays.items():   # two units in the last place, everywhere
        if a.dtype.kind == "f":
            arrays[name] = np.nextafter(np.nextafter(a, np.inf), np.inf)
    assert fixtures.stale(committed, (meta, arrays)) == []


def test_one_value_edited_by_1e_9_is_stale_and_named(committed):
    meta, arrays = copy.deepcopy(committed)
    name = _float_array(arrays)
    arrays[name].flat[0] += 1e-9
    problems = fixtures.stale(committed, (meta, arrays))
    assert len(problems) == 1 and problems[0].startswith(f"{name}: differs by up to 1e-09"), problems


def test_a_changed_case_is_stale_and_named(committed):
    """One public case's inputs changed (as an edit of lab2check/cases.py would): the reference's
    answers to it, recomputed as `make fixtures` does, are no longer the committed ones."""
    case = next(c for c in fixtures.public_cases() if c.id == "q2_1/backward/public-1")
    X = case.arrays["X"].copy()
    X[0, 0] += 0.5
    changed = dataclasses.replace(case, arrays={**case.arrays, "X": X})
    meta, arrays = copy.deepcopy(committed)
    arrays.update(fixtures.case_arrays([changed]))
    problems = fixtures.stale(committed, (meta, arrays))
    assert any(p.startswith(f"exp|{case.id}|dW1: differs by up to ") for p in problems), problems
    assert all(p.split("|")[1] == case.id for p in problems), problems   # that case only


def test_a_new_or_missing_array_a_shape_and_the_meta_are_stale(committed):
    meta, arrays = copy.deepcopy(committed)
    gone = _float_array(arrays)
    del arrays[gone]
    arrays["exp|q9_9/new/public-1|out"] = np.zeros(3)
    reshaped = _float_array(arrays, "var|")
    arrays[reshaped] = arrays[reshaped].reshape(-1, 1)
    meta["cases"] = meta["cases"][1:]
    problems = fixtures.stale(committed, (meta, arrays))
    assert problems[0] == "public.json differs from what the reference gives now"
    assert f"{gone}: committed, no longer computed" in problems
    assert "exp|q9_9/new/public-1|out: computed, not committed" in problems
    assert any(p.startswith(f"{reshaped}: committed float64[") for p in problems), problems
