"""The protocol layer: schemes, normalisers, datasets and the protocol as registered values, open to
third parties through entry points (a test package registers a dataset, its scheme and a normaliser)."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark_files import loop_nme, scheme_shapes
from faceeval import protocol as P
from faceeval.cli import main
from faceeval.errors import MetricInputError, OptionError
from faceeval.metrics import normalisers, point_to_point_error, score
from faceeval.protocol import Protocol, resolve_protocol


@pytest.mark.parametrize("name", ["ibug68", "wflw98", "cofw29", "aflw19", "menpo39"])
def test_every_shipped_scheme_is_consistent(name):
    s = P.scheme(name)
    perm = s.mirror_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(s.n_points))          # an involution
    assert sorted(i for r in s.regions for i in s.region_indices(r)) == list(range(s.n_points))
    if s.outer_eye_corners:
        a, b = s.outer_eye_corners
        assert perm[a] == b                                                    # the corners mirror each other
    if s.eye_centres:
        left, right = s.eye_centres
        assert sorted(perm[list(left)].tolist()) == sorted(right)


def test_scheme_points_as_the_survey_lists_them():
    assert P.scheme("wflw98").outer_eye_corners == (60, 72) and P.scheme("wflw98").eye_centres == ((96,), (97,))
    assert P.scheme("cofw29").outer_eye_corners == (8, 9) and P.scheme("cofw29").eye_centres == ((16,), (17,))
    assert P.scheme("aflw19").outer_eye_corners == (6, 11)
    assert P.scheme("wflw98").region_indices("eyes").tolist() == list(range(60, 76)) + [96, 97]
    assert [P.scheme_for_points(n).name for n in (68, 98, 29, 19, 39)] == ["ibug68", "wflw98", "cofw29", "aflw19",
                                                                          "menpo39"]
    with pytest.raises(MetricInputError, match="no landmark scheme of 7 points"):
        P.scheme_for_points(7)


@pytest.mark.parametrize("n_points, a, b", [(98, 60, 72), (29, 8, 9), (19, 6, 11)])
def test_metrics_take_the_reference_points_of_the_scheme(n_points, a, b):
    gt = scheme_shapes(5, n_points, seed=n_points)
    pred = gt + np.random.default_rng(1).normal(0, 2, gt.shape)
    expected = loop_nme(pred, gt, lambda g: np.hypot(*(g[a] - g[b])))
    np.testing.assert_allclose(point_to_point_error(pred, gt), expected, rtol=1e-12)
    box = loop_nme(pred, gt, lambda g: np.sqrt(np.prod(g.max(0) - g.min(0))))
    np.testing.assert_allclose(point_to_point_error(pred, gt, "bbox-size"), box, rtol=1e-12)
    sizes = np.linspace(100, 140, 5)
    np.testing.assert_allclose(normalisers(gt, "dataset-box", box_size=sizes), sizes)
    with pytest.raises(MetricInputError, match="expected 98 points per shape, got 7"):
        point_to_point_error(pred[:, :7], gt[:, :7], scheme="wflw98")


def test_the_68_point_api_is_unchanged():
    gt = scheme_shapes(3, 68, seed=2)
    pred = gt + 1.0
    from conftest import loop_errors

    np.testing.assert_allclose(point_to_point_error(pred, gt, "inter-ocular"), loop_errors(pred, gt), rtol=1e-12)
    with pytest.raises(MetricInputError, match="unknown normalisation 'iod'"):
        point_to_point_error(pred, gt, "iod")


def test_protocol_is_one_frozen_value_resolved_from_the_dataset():
    assert resolve_protocol("wflw") == Protocol("inter-ocular", 0.1)
    assert resolve_protocol("cofw") == Protocol("inter-pupil", 0.1)
    assert resolve_protocol("cofw", norm="inter-ocular") == Protocol("inter-ocular", 0.1)
    assert resolve_protocol("aflw") == Protocol("dataset-box", 0.07)
    assert resolve_protocol("menpo") == Protocol("bbox-diagonal", 0.03)
    assert resolve_protocol("300w") == resolve_protocol() == Protocol("inter-ocular", 0.08)
    assert resolve_protocol(scheme="wflw98") == Protocol("inter-ocular", 0.1)      # a folder of 98-point files
    assert resolve_protocol("wflw", alpha=0.08, inclusive_failure=True).failure_text == "error >= 0.08"
    with pytest.raises(Exception):
        Protocol("inter-ocular").alpha = 0.1                                        # frozen
    with pytest.raises(OptionError, match="unknown --norm normaliser 'corners'"):
        Protocol("corners")
    gt = scheme_shapes(20, 98, seed=3)
    pred = gt + np.random.default_rng(4).normal(0, 6, gt.shape)
    summary, errors = score(pred, gt, Protocol("inter-ocular", 0.1, auc_rule="trapezoid"))
    grid = np.arange(1001) * 1e-4
    ced = (errors[None] <= grid[:, None]).mean(axis=1)
    assert summary.auc == pytest.approx(1e-4 * (ced.sum() - (ced[0] + ced[-1]) / 2) / 0.1, rel=1e-12)


THIRD_PARTY = '''
"""A third-party benchmark: five points per face in a JSON file, with its own scheme and normaliser."""
import json
from pathlib import Path

import numpy as np

from faceeval.plugin import Dataset, DatasetSpec, Normaliser, Sample, Scheme, DataError

SCHEME = Scheme("acme5", 5, "five points: two eye centres, the nose, two mouth corners",
                groups={"eyes": (0, 1), "nose": (2,), "mouth": (3, 4)},
                regions={"eyes": ("eyes",), "nose": ("nose",), "mouth": ("mouth",)},
                mirror_pairs=((0, 1), (3, 4)), eye_centres=((0,), (1,)))


def _mouth(gt, scheme, box_size=None):
    return np.linalg.norm(gt[:, 3] - gt[:, 4], axis=-1)


MOUTH = Normaliser("mouth-width", _mouth, 0.2, "distance of the mouth corners")


def load(root, subset):
    path = Path(root) / f"{subset}.json"
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    faces = json.loads(path.read_text())
    return Dataset("acme", subset, [Sample(k, None, np.asarray(v, float), None) for k, v in faces.items()],
                   root, scheme="acme5")


SPEC = DatasetSpec("acme", "acme5", load, ("test",), "test", norm="inter-pupil", alpha=0.15)
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """An installed package (a dist-info with entry points on sys.path) that registers a dataset, a
    scheme and a normaliser; the registries are restored afterwards."""
    pkg = tmp_path / "site" / "acme_faces"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(THIRD_PARTY))
    info = tmp_path / "site" / "acme_faces-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-faces\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[faceeval.datasets]\nacme = acme_faces:SPEC\n\n"
                                           "[faceeval.schemes]\nacme5 = acme_faces:SCHEME\n\n"
                                           "[faceeval.normalisers]\nmouth-width = acme_faces:MOUTH\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for registry in (P.SCHEMES, P.NORMALISERS, P.DATASETS):
        monkeypatch.setattr(registry, "_values", dict(registry._values))
        monkeypatch.setattr(registry, "_order", list(registry._order))
    gt = scheme_shapes(6, 5, seed=9)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.json").write_text(json.dumps({f"face{k}": g.tolist() for k, g in enumerate(gt)}))
    return tmp_path, gt


def test_a_third_party_dataset_registered_through_entry_points(third_party):
    root, gt = third_party
    assert "acme" in P.dataset_names() and "acme5" in P.scheme_names() and "mouth-width" in P.normaliser_names()
    pred = gt + np.random.default_rng(10).normal(0, 1.5, gt.shape)
    (root / "p.json").write_text(json.dumps({f"face{k}": p.tolist() for k, p in enumerate(pred)}))
    runner = CliRunner()
    out = runner.invoke(main, ["eval", str(root / "p.json"), "--gt", "acme:test", "--data-root", str(root / "data"),
                               "--no-ci", "--format", "json"])
    assert out.exit_code == 0, "".join(__import__("traceback").format_exception(*out.exc_info))
    got = json.loads(out.stdout)
    pupils = loop_nme(pred, gt, lambda g: np.hypot(*(g[0] - g[1])))
    assert got["scheme"] == "acme5" and got["norm"] == "inter-pupil" and got["alpha"] == 0.15
    assert got["mean_error"] == pytest.approx(pupils.mean(), rel=1e-12)
    assert set(got["regions"]) == {"eyes", "nose", "mouth"}
    mouth = json.loads(runner.invoke(main, ["eval", str(root / "p.json"), "--gt", "acme", "--data-root",
                                            str(root / "data"), "--no-ci", "--format", "json", "--norm",
                                            "mouth-width"]).stdout)
    assert mouth["mean_error"] == pytest.approx(loop_nme(pred, gt, lambda g: np.hypot(*(g[3] - g[4]))).mean(),
                                                rel=1e-12)
    # inter-ocular needs outer eye corners, which this scheme does not name: one clear line
    bad = runner.invoke(main, ["eval", str(root / "p.json"), "--gt", "acme", "--data-root", str(root / "data"),
                               "--norm", "inter-ocular"])
    assert bad.exit_code == 1 and "inter-ocular needs the outer eye corners; scheme acme5 has none" in bad.output


def test_analyse_and_explain_take_the_protocol_value():
    from faceeval.analysis import analyse
    from faceeval.conventions import explain

    gt = scheme_shapes(12, 98, seed=5)
    pred = gt + np.random.default_rng(6).normal(0, 5, gt.shape)
    protocol = Protocol("inter-pupil", 0.1, inclusive_failure=True)
    by_value = analyse(pred, gt, protocol=protocol)
    loose = analyse(pred, gt, None, "inter-pupil", 0.1, True)
    assert by_value.summary == loose.summary and by_value.regions == loose.regions
    lines = {line.convention: line.value for line in explain(pred, gt, protocol=protocol)}
    pupils = loop_nme(pred, gt, lambda g: np.hypot(*(g[96] - g[97])))
    assert lines["protocol: inter-pupil"] == pytest.approx(pupils.mean(), rel=1e-12)
    assert lines["protocol: failure = error >= 0.1"] == pytest.approx(np.mean(pupils >= 0.1))
