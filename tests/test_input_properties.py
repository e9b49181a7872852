"""Property-based tests (hypothesis): whatever bytes, point counts or numbers come in, the readers
and the metrics input checks either give the right result or raise the project's own error type
(:class:`~faceeval.errors.FaceevalError`), never another exception."""
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceeval.errors import DataError, FaceevalError, MetricInputError
from faceeval.io import read_boxes, read_pts
from faceeval.metrics import auc, check_shapes, evaluate, failure_rate, summarize

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Floats as people and tools write them, junk included.
NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0x1p3", "1,5", "--2", "+", ".", "1.2.3", "", "٣", "1_0",
                     "7.0 8.0", "\t", "x"]),
)


def _pts_text(cells: list[list[str]], declared: int | None, header: str = "version: 1") -> str:
    body = "".join(" ".join(row) + "\n" for row in cells)
    head = header + "\n" + (f"n_points: {declared}\n" if declared is not None else "")
    return head + "{\n" + body + "}\n"


def _expected_pts(cells: list[list[str]], declared: int | None) -> np.ndarray | None:
    """The shape a correct reader returns for these lines (0-based), or None where it must refuse."""
    if any(len(row) != 2 or any(c.strip() != c or not c for c in row) for row in cells):
        return None
    try:
        values = np.array([[float(a), float(b)] for a, b in cells], dtype=np.float64).reshape(-1, 2)
    except ValueError:
        return None
    if not np.isfinite(values).all() or (declared is not None and declared != len(values)):
        return None
    return values - 1.0


@SETTINGS
@given(data=st.binary(max_size=600))
def test_pts_reader_on_random_bytes_parses_or_raises_data_error(tmp_path, data):
    path = tmp_path / "random.pts"
    path.write_bytes(data)
    try:
        shape = read_pts(path, n_points=None)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")                 # the file is named
        return
    assert shape.ndim == 2 and shape.shape[1] == 2 and np.isfinite(shape).all()


@SETTINGS
@given(cells=st.lists(st.lists(NUMBER_TEXT, min_size=1, max_size=3), max_size=80),
       declared=st.one_of(st.none(), st.integers(-1, 90)), n_points=st.sampled_from([None, 68]))
def test_pts_reader_on_numeric_junk_and_any_point_count(tmp_path, cells, declared, n_points):
    cells = [[c for c in row if c.strip() and " " not in c] or ["1"] for row in cells]      # one token per cell
    path = tmp_path / "junk.pts"
    path.write_text(_pts_text(cells, declared))
    expected = _expected_pts(cells, declared)
    if expected is not None and n_points is not None and len(expected) != n_points:
        expected = None
    try:
        shape = read_pts(path, n_points=n_points)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert expected is None, f"refused a valid file: {exc}"
        return
    assert expected is not None, "accepted a file that is not a valid .pts"
    np.testing.assert_array_equal(shape, expected)


@SETTINGS
@given(shape=st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=100))
def test_pts_files_written_by_hand_read_back_exactly(tmp_path, shape):
    path = tmp_path / "face.pts"
    path.write_text(_pts_text([[repr(x), repr(y)] for x, y in shape], len(shape)))
    np.testing.assert_array_equal(read_pts(path, n_points=None), np.array(shape) - 1.0)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(), st.text(max_size=5)),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)


def _valid_box(value) -> bool:
    if not isinstance(value, list) or len(value) != 4:
        return False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return False
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except OverflowError:
        return False
    return all(math.isfinite(v) for v in (x0, y0, x1, y1)) and x1 > x0 and y1 > y0


@SETTINGS
@given(data=st.one_of(JSON_VALUES, st.dictionaries(st.text(max_size=8), st.one_of(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=3, max_size=5), JSON_VALUES), max_size=6)))
def test_boxes_reader_on_any_json_parses_or_raises_data_error(tmp_path, data):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(data))
    valid = isinstance(data, dict) and all(_valid_box(v) for v in data.values())
    try:
        boxes = read_boxes(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert not valid, f"refused valid boxes: {exc}"
        return
    assert valid
    assert set(boxes) == set(data)
    for key, box in boxes.items():
        np.testing.assert_array_equal(box, np.asarray(data[key], dtype=np.float64))


@SETTINGS
@given(data=st.binary(max_size=300))
def test_boxes_reader_on_random_bytes(tmp_path, data):
    path = tmp_path / "boxes.json"
    path.write_bytes(data)
    try:
        read_boxes(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")


#: Arrays of any shape and dtype, and things that are not arrays at all.
JUNK_ARRAYS = st.one_of(
    st.integers(0, 3).flatmap(lambda nd: st.lists(st.integers(0, 70), min_size=nd, max_size=nd)).flatmap(
        lambda dims: st.sampled_from(["float", "int", "bool", "complex", "str", "object"]).map(
            lambda kind: _array(dims, kind))),
    st.lists(st.lists(st.floats(), max_size=3), max_size=3),               # ragged
    st.text(max_size=5), st.none(),
)


def _array(dims, kind):
    rng = np.random.default_rng(sum(dims) + len(kind))
    values = rng.normal(0, 1e3, dims)
    return {"float": values, "int": values.astype(np.int64), "bool": values > 0, "complex": values + 1j,
            "str": values.astype(str), "object": values.astype(object)}[kind]


@SETTINGS
@given(shapes=JUNK_ARRAYS)
def test_metric_shape_check_accepts_only_real_n_68_2(shapes):
    try:
        out = check_shapes(shapes)
    except MetricInputError:
        return
    assert out.dtype == np.float64 and out.ndim == 3 and out.shape[1:] == (68, 2)


@SETTINGS
@given(pred=JUNK_ARRAYS, gt=JUNK_ARRAYS, alpha=st.one_of(st.floats(), st.integers(-3, 200), st.text(max_size=3)))
def test_evaluate_on_junk_raises_only_its_own_error(pred, gt, alpha):
    try:
        summary, errors = evaluate(pred, gt, alpha=alpha)
    except FaceevalError:
        return
    assert np.isfinite(errors).all() and 0 <= summary.auc <= 1 and 0 <= summary.failure_rate <= 1


@SETTINGS
@given(n=st.integers(1, 20), scale=st.floats(1e-300, 1e300), offset=st.floats(-1e300, 1e300),
       alpha=st.floats(allow_nan=True, allow_infinity=True))
def test_evaluate_on_extreme_numbers_is_finite_or_its_own_error(n, scale, offset, alpha):
    rng = np.random.default_rng(n)
    gt = rng.normal(0, 1, (n, 68, 2)) * scale + offset
    pred = gt + rng.normal(0, 1, gt.shape) * scale
    try:
        summary, errors = evaluate(pred, gt, alpha=alpha)
    except FaceevalError:
        return
    assert np.isfinite(errors).all() and (errors >= 0).all()
    assert 0 < alpha <= 1 and 0 <= summary.auc <= 1


@SETTINGS
@given(errors=st.one_of(JUNK_ARRAYS, st.lists(st.floats(), max_size=30)),
       alpha=st.one_of(st.floats(), st.integers(-2, 100)))
def test_summaries_of_junk_errors_raise_only_their_own_error(errors, alpha):
    for fn in (auc, failure_rate, summarize):
        try:
            fn(errors, alpha)
        except MetricInputError:
            continue


def test_the_checks_above_can_fail():
    """The properties are not vacuous: valid input parses, and each kind of junk is refused."""
    with pytest.raises(MetricInputError, match="expected real numbers"):
        check_shapes(np.zeros((2, 68, 2)).astype(str))
    with pytest.raises(MetricInputError, match=r"alpha must be in \(0, 1\], got 5"):
        auc(np.array([0.01]), 5)
    assert check_shapes(np.zeros((2, 68, 2), dtype=np.int64)).dtype == np.float64
