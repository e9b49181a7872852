"""DAN weights judged on the held-out validation faces, never on a test face.

Training keeps the weights with the lowest validation mean, but 100 faces make that mean
noisy: the best of many evaluations is partly luck. Comparing two sets of weights face by
face (a paired bootstrap interval of the mean difference, Wilcoxon p, wins) says whether a
difference is larger than that noise before one replaces the other.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VAL_COUNT = 100   # the faces held out by --val-split first (the shipped weights' validation faces)
#: How the validation faces are chosen: ``first``: the first ``--val-count`` training faces (LFPW
#: train only, almost no hard poses); ``photos``: whole photos from every training folder.
VAL_SPLITS = ("first", "photos")
PHOTOS_VAL_COUNT = 300   # --val-split photos: about this many faces, a third from each training folder

_FACE_SUFFIX = re.compile(r"_\d{1,2}$")


def photo_id(sample_id: str) -> str:
    """The photo a face comes from: its id without the 300W face number ``_k`` (``afw/111076519_2``
    -> ``afw/111076519``); ``lfpw/trainset/image_0001`` is its own photo.

    >>> photo_id("afw/111076519_2"), photo_id("helen/trainset/100040721_1"), photo_id("lfpw/trainset/image_0001")
    ('afw/111076519', 'helen/trainset/100040721', 'lfpw/trainset/image_0001')
    """
    return _FACE_SUFFIX.sub("", sample_id)


def validation_split(ids: list[str], count: int, split: str = "first") -> np.ndarray:
    """Sorted indices of the validation faces among training faces ``ids`` (in training order).

    ``first``: the first ``count``. ``photos``: from each source folder in turn (the id without its
    last part), whole photos in training order until that folder holds its share of ``count``
    (``count // folders``, the remainder to the first folders), so no photo has faces on both sides.
    With 300W's training order (LFPW train first) the first 100 LFPW faces stay validation faces.

    >>> ids = ["a/p1_1", "a/p1_2", "a/p2_1", "b/q_1", "b/r_1", "b/s_1"]
    >>> validation_split(ids, 2, "first").tolist(), validation_split(ids, 2, "photos").tolist()
    ([0, 1], [0, 1, 3])
    """
    if split not in VAL_SPLITS:
        raise ValueError(f"validation split must be one of {VAL_SPLITS}, got {split!r}")
    if count <= 0:
        return np.zeros(0, dtype=int)
    if split == "first":
        return np.arange(min(count, len(ids)))
    folders: dict[str, list[int]] = {}
    for i, sid in enumerate(ids):
        folders.setdefault(sid.rsplit("/", 1)[0] if "/" in sid else "", []).append(i)
    shares = [count // len(folders) + (k < count % len(folders)) for k in range(len(folders))]
    chosen: list[int] = []
    for share, members in zip(shares, folders.values()):
        taken: list[int] = []
        photos: dict[str, list[int]] = {}
        for i in members:
            photos.setdefault(photo_id(ids[i]), []).append(i)
        for faces in photos.values():
            if len(taken) >= share:
                break
            taken.extend(faces)
        chosen.extend(taken)
    return np.array(sorted(chosen), dtype=int)


@dataclass
class ValidationFaces:
    """The validation faces of a split, in training order, with their detector boxes."""

    images: list
    boxes: np.ndarray
    ground_truth: np.ndarray
    ids: list | None = None
    indices: np.ndarray | None = None     # positions among the training faces, in training order
    training_ids: list | None = None      # every training face's id, in training order


def default_val_count(split: str) -> int:
    """How many faces ``--val-split SPLIT`` holds out unless ``--val-count`` says otherwise."""
    return PHOTOS_VAL_COUNT if split == "photos" else VAL_COUNT


def validation_faces(data_root: str | os.PathLike, val_count: int | None = None,
                     split: str = "first") -> ValidationFaces:
    """The faces ``faceeval train dan --data-root ROOT --val-split SPLIT`` holds out."""
    from faceeval.plugin import load_dataset

    if val_count is None:
        val_count = default_val_count(split)
    ds = load_dataset("300w", "train", data_root)
    idx = validation_split(ds.ids, val_count, split)
    return ValidationFaces([ds.samples[i].load_image() for i in idx], ds.boxes[idx], ds.ground_truth[idx],
                           [ds.ids[i] for i in idx], idx, list(ds.ids))


def training_records(weights: str | os.PathLike) -> list[dict] | None:
    """The training options (and validation ids where recorded) of every run behind ``weights``:
    its own run's, then, through ``--init-weights``, the earlier runs' it started from.

    Read from a training folder's ``checkpoint.json`` (for its ``best``/``dan`` weights), or from a
    weights folder's ``dan.json`` (a release's ``provenance``, or the ``training`` record that
    ``faceeval train dan`` and ``gpu_train`` write). None where a run's record is missing, so
    which faces the weights trained on is unknown.
    """
    path = Path(weights)
    folder = path if path.is_dir() else path.parent
    if (folder / "checkpoint.json").is_file():
        try:
            state = json.loads((folder / "checkpoint.json").read_text())
        except (OSError, ValueError):
            return None
        return _chain({"options": state.get("options"), "validation_ids": state.get("validation_ids")})
    config = path.with_suffix(".json") if path.is_file() else folder / "dan.json"
    try:
        meta = json.loads(config.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(meta.get("provenance"), dict):             # a release: its provenance nests the earlier runs
        records, prov = [], meta["provenance"]
        while isinstance(prov, dict) and isinstance(prov.get("options"), dict):
            records.append({"options": prov["options"], "validation_ids": prov.get("validation_ids")})
            if not prov["options"].get("init_weights"):
                return records
            prov = (prov.get("initial_weights") or {}).get("training")
        return None
    if isinstance(meta.get("training"), dict):
        return _chain(meta["training"])
    return None


def _chain(record: dict) -> list[dict] | None:
    """``record`` and the records of the weights its run started from (None: one is missing)."""
    options = record.get("options")
    if not isinstance(options, dict):
        return None
    if not options.get("init_weights"):
        return [record]
    earlier = training_records(options["init_weights"])
    return None if earlier is None else [record, *earlier]


def held_out(weights: str | os.PathLike, training_ids: list[str]) -> set | None:
    """Ids of the training faces that no run behind ``weights`` trained on (None: unknown).

    A run holds out its recorded validation ids, or those its ``val_split``/``val_count``
    options choose from ``training_ids`` (runs from before the photo split: the first
    ``val_count``); ``val_count`` 0 trained on every face."""
    records = training_records(weights)
    if records is None:
        return None
    faces = set(training_ids)
    for rec in records:
        opts = rec["options"]
        count = int(opts.get("val_count", VAL_COUNT))
        if count <= 0:
            return set()
        ids = rec.get("validation_ids")
        if not ids:
            ids = [training_ids[i] for i in validation_split(training_ids, count, opts.get("val_split") or "first")]
        faces &= set(ids)
    return faces


def jittered_boxes(boxes: np.ndarray, shift: float, scale: float, seed: int = 0) -> np.ndarray:
    """``boxes`` ``(N, 4)`` (x0, y0, x1, y1) moved by N(0, ``shift``) box sizes along each axis and
    resized about their centres by a factor N(1, ``scale``) (clipped to [0.5, 1.5]); the box size is
    the geometric mean of width and height. Seeded, so every weights judged see the same boxes.

    >>> b = np.array([[10., 20., 110., 120.]])
    >>> jittered_boxes(b, 0, 0).tolist()
    [[10.0, 20.0, 110.0, 120.0]]
    >>> j = jittered_boxes(np.repeat(b, 20000, 0), 0.1, 0.2)
    >>> centre, size = (j[:, :2] + j[:, 2:]) / 2, j[:, 2] - j[:, 0]
    >>> np.round(centre.std(0) / 100, 2).tolist(), round(float(size.std() / 100), 2), bool(np.allclose(size, j[:, 3] - j[:, 1]))
    ([0.1, 0.1], 0.2, True)
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    size = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.normal(0.0, shift, (len(boxes), 2)) * size
    factor = np.clip(rng.normal(1.0, scale, (len(boxes), 1)), 0.5, 1.5)
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    return np.concatenate([centre - half, centre + half], axis=1)


def validation_errors(weights: str | os.PathLike, faces: ValidationFaces, normalisation: str = "inter-ocular",
                      precision: str = "fp32", shift: float = 0.0, scale: float = 0.0, draws: int = 1,
                      seed: int = 0) -> np.ndarray:
    """Per-face point-to-point errors of the weights on the validation faces, box-initialised; with
    ``shift``/``scale``, each face's mean error over ``draws`` :func:`jittered_boxes` (seeds ``seed``,
    ``seed + 1``, ...): how far the weights stay accurate when the initial box is off."""
    from faceeval.plugin import point_to_point_error

    from . import DAN

    dan = DAN.load(weights, precision=precision)
    boxes = ([jittered_boxes(faces.boxes, shift, scale, s) for s in range(seed, seed + draws)] if shift or scale
             else [faces.boxes])
    return np.mean([point_to_point_error(dan.predict(faces.images, b), faces.ground_truth, normalisation)
                    for b in boxes], axis=0)


def compare_report(names: list[str], errors: list[np.ndarray], resamples: int = 10000) -> list[str]:
    """Lines giving each weights' validation mean and, for every one after the first, a paired
    comparison against the first."""
    from faceeval.plugin import Bootstrap, paired_comparison

    lines = [f"{name}: mean {e.mean() * 100:.3f}%  median {np.median(e) * 100:.3f}%  (n = {e.size})"
             for name, e in zip(names, errors)]
    for name, e in zip(names[1:], errors[1:]):
        pc = paired_comparison(errors[0], e, names[0], name, Bootstrap(resamples=resamples))
        lines.append(f"{names[0]} - {name}: {pc.mean_difference * 100:+.3f} points "
                     f"[{pc.interval.low * 100:+.3f}, {pc.interval.high * 100:+.3f}] ({pc.bootstrap.level:.0%} paired bootstrap), "
                     f"Wilcoxon p = {pc.wilcoxon_p:.3g}, {name} lower on {pc.b_better:.0%} of faces: {pc.verdict}")
    return lines


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Compare DAN weights on the validation faces (box-initialised), face by
face against the first weights given, so that a difference within the noise of the
validation faces is not taken for progress.

--val-split photos (the default) holds out about 300 whole photos' faces from AFW, LFPW
train and HELEN train, as `faceeval train dan --val-split photos` does; it includes the
first 100 LFPW faces, the shipped weights' own validation faces. Each weights' training
record (its checkpoint.json or dan.json, and those of the weights it started from) says
which faces it held out; the comparison uses only the faces that none of the weights
trained on (for the shipped weights and a photo-split run: those 100).

--box-shift and --box-scale judge robustness instead: each face starts from boxes
jittered the same way for every weights (the validation faces' detector boxes are
close to their faces; hard test faces leave stage 1 further off).

\b
Example:
  python -m faceeval_methods.dan.validation methods/dan/pretrained TRAIN_DIR/best.safetensors \\
      --data-root DATA/300w
  python -m faceeval_methods.dan.validation methods/dan/pretrained TRAIN_DIR/best.safetensors \\
      --data-root DATA/300w --val-split first --box-shift 0.1 --box-scale 0.1
""", context_settings={"help_option_names": ["-h", "--help"]})
    @click.argument("weights", nargs=-1, required=True, type=click.Path(exists=True))
    @data_root_option("300W root the weights were trained on (env FACEEVAL_DATA_ROOT).", exists=True,
                      required=True)
    @click.option("--val-split", type=click.Choice(VAL_SPLITS), default="photos", show_default=True)
    @click.option("--val-count", type=click.IntRange(min=2), default=None,
                  help=f"Validation faces [default: {PHOTOS_VAL_COUNT} with photos, {VAL_COUNT} with first].")
    @click.option("--normalisation", type=click.Choice(["inter-ocular", "inter-pupil", "bbox-diagonal"]),
                  default="inter-ocular", show_default=True)
    @click.option("--box-shift", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
                  help="Robustness to the initial box: move each box by N(0, this) box sizes along each axis.")
    @click.option("--box-scale", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
                  help="... and resize it by a factor N(1, this) (clipped to [0.5, 1.5]).")
    @click.option("--draws", type=click.IntRange(1, 50), default=3, show_default=True,
                  help="With --box-shift/--box-scale: jittered boxes per face (seeded, the same for every "
                       "weights); a face's error is its mean over them.")
    @click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                  help="The first draw's seed (another seed: another set of jittered boxes, to confirm a result).")
    def command(weights, data_root, val_split, val_count, normalisation, box_shift, box_scale, draws, seed):
        from faceeval.plugin import FaceevalError

        try:
            faces = validation_faces(data_root, val_count, val_split)
            errors = [validation_errors(w, faces, normalisation, shift=box_shift, scale=box_scale, draws=draws,
                                        seed=seed) for w in weights]
        except FaceevalError as e:   # damaged or foreign weights, missing data: one line, no traceback
            raise click.ClickException(str(e)) from None
        n = len(faces.images)
        jitter = (f", from boxes moved by N(0, {box_shift:g}) box sizes and resized by N(1, {box_scale:g}), "
                  f"{draws} draws a face (seeds {seed}-{seed + draws - 1})" if box_shift or box_scale else "")
        click.echo(f"{n} validation faces (--val-split {val_split}), {normalisation}{jitter}:")
        keep = np.ones(n, dtype=bool)
        for w in weights:
            held = held_out(w, faces.training_ids)
            if held is None:
                click.echo(f"note: {w} has no training record; whether it trained on any of them is unknown")
                continue
            trained = np.array([i not in held for i in faces.ids])
            if trained.any():
                click.echo(f"{w} trained on {int(trained.sum())} of them")
                keep &= ~trained
        if not keep.all():
            if keep.sum() < 2:
                raise click.ClickException(f"the weights share {int(keep.sum())} held-out validation faces: "
                                           "nothing to compare on (try --val-split first)")
            click.echo(f"compared on the {int(keep.sum())} of them that no weights trained on:")
        for line in compare_report(list(weights), [e[keep] for e in errors]):
            click.echo(line)

    command.main(args=argv, prog_name="python -m faceeval_methods.dan.validation")


if __name__ == "__main__":
    main()
