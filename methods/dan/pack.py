"""A DAN training pack: the training faces as one compact file that travels to a GPU machine.

``python -m faceeval_methods.dan.pack --data-root DATA/300w --out .gpu/dan-pack.npz`` crops
every training face onto its canvas (the same :class:`~faceeval_methods.dan.augment.Canvases` the CPU
trainer builds, grey, at frame resolution) and stores:

* ``canvas_jpeg`` / ``canvas_offsets``: the canvases as grey JPEGs, concatenated (a few MB
  instead of ~100 MB of raw pixels; a GPU machine's CPU cores decode them in seconds);
* ``shapes``: ground truth in canvas pixels; ``translation_scale``: each face's factor for
  the released code's translation perturbation (original-photo pixels);
* ``val_frames`` / ``val_gt``: the detector-box-initialised validation frames (uint8) and
  their ground truth in frame pixels (the faces of ``--val-split`` / ``--val-count``, as
  ``faceeval train dan`` holds them out);
* ``frame_shape``, ``ids``, ``val_ids`` and a JSON ``meta`` (data root, counts, options).

Reading a pack needs numpy, Pillow and torch only: no menpo, nothing that needs numpy < 2.
Loading uses ``np.load(..., allow_pickle=False)``.
"""
from __future__ import annotations

import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from faceeval.plugin import DataError, save_npz

from .augment import Canvases, TRANSLATION_MODES
from .validation import PHOTOS_VAL_COUNT, VAL_COUNT, VAL_SPLITS, default_val_count

PACK_FORMAT = "faceeval-dan-pack-1"


def _encode(image: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def write_pack(path: str | os.PathLike, images, ground_truth: np.ndarray, boxes: np.ndarray, ids: list[str],
               photo_scales: np.ndarray | None = None, val_count: int = 100, translation: str = "released",
               image_size: int = 112, frame_fraction: float = 0.25, quality: int = 92,
               meta: dict | None = None, val_split: str = "first") -> dict:
    """Write the pack of ``images`` (sliceable, e.g. lazily loaded) to ``path``; returns its meta.

    ``val_count`` faces chosen by ``val_split`` (:func:`~faceeval_methods.dan.validation.validation_split`)
    are the validation set (box-initialised frames), the rest become canvases, exactly as
    :func:`faceeval_methods.dan.train.prepare_data` splits them.
    """
    from .train import TrainOptions, prepare_data
    from .model import DANModel
    from .config import DANConfig

    if translation not in TRANSLATION_MODES:
        raise DataError(f"translation must be one of {TRANSLATION_MODES}, got {translation!r}")
    opts = TrainOptions(val_count=val_count, val_split=val_split, translation=translation, progress=False)
    model = DANModel(DANConfig(stages=1, image_size=image_size, feature_size=image_size // 2,
                               frame_fraction=frame_fraction))
    data = prepare_data(images, ground_truth, boxes, opts, model, torch.device("cpu"), photo_scales, ids)
    canv = data.canvases
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        blobs = list(pool.map(lambda im: _encode(im, quality), canv.images[:, 0].numpy()))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    n_val = data.val_frames.shape[0]          # val_count 0: validation on the training faces (demos, tests)
    held_out = set(data.val_ids) if val_count > 0 else set()
    info = {"format": PACK_FORMAT, "n_train": len(canv), "n_val": n_val, "val_count": val_count, "val_split": val_split,
            "translation": translation, "image_size": image_size, "frame_fraction": frame_fraction,
            "canvas_size": canv.size, "jpeg_quality": quality, **(meta or {})}
    save_npz(path, canvas_jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8), canvas_offsets=offsets,
             shapes=canv.shapes.numpy(), translation_scale=canv.translation_scale.numpy(),
             val_frames=data.val_frames[:, 0].round().clamp(0, 255).to(torch.uint8).numpy(),
             val_gt=data.val_gt.numpy(), frame_shape=canv.frame_shape,
             ids=np.array([i for i in ids if i not in held_out]), val_ids=np.array(data.val_ids),
             meta=np.array(json.dumps(info)))
    return info


def read_pack(path: str | os.PathLike, workers: int | None = None) -> dict:
    """The pack's arrays, canvases decoded to uint8 ``(M, 1, C, C)``; checks the format."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable DAN training pack ({exc})") from exc
    with z:
        try:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
        except (KeyError, ValueError) as exc:
            raise DataError(f"{path}: incomplete DAN training pack ({exc})") from exc
    if meta.get("format") != PACK_FORMAT:
        raise DataError(f"{path}: pack format {meta.get('format')!r}, expected {PACK_FORMAT!r}")
    raw, off = arrays.pop("canvas_jpeg").tobytes(), arrays.pop("canvas_offsets")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        canvases = list(pool.map(lambda i: _decode(raw[off[i]:off[i + 1]]), range(len(off) - 1)))
    arrays["canvases"] = np.stack(canvases)[:, None]
    arrays["meta"] = meta
    return arrays


def pack_training_data(pack: dict, device: torch.device):
    """:class:`~faceeval_methods.dan.train.TrainData` from :func:`read_pack`'s arrays, on ``device``."""
    from .train import TrainData

    size = int(pack["meta"]["image_size"])
    canv = Canvases.from_arrays(pack["canvases"], pack["shapes"], pack["translation_scale"],
                                pack["frame_shape"], size, device)
    val_frames = torch.as_tensor(pack["val_frames"][:, None], dtype=torch.float32, device=device)
    val_gt = torch.as_tensor(pack["val_gt"], dtype=torch.float32, device=device)
    return TrainData(canv, val_frames, val_gt, len(canv), [str(i) for i in pack["val_ids"]])


def check_pack_matches(pack: dict, opts, model) -> None:
    """Refuse a pack made for another frame or split than the training options ask for."""
    meta = pack["meta"]
    problems = []
    if meta["val_count"] != opts.val_count:
        problems.append(f"val_count {meta['val_count']} (options: {opts.val_count})")
    if opts.val_count and meta.get("val_split", "first") != opts.val_split:    # packs before the photo split: first
        problems.append(f"val_split {meta.get('val_split', 'first')!r} (options: {opts.val_split!r})")
    if meta["translation"] != opts.translation:
        problems.append(f"translation {meta['translation']!r} (options: {opts.translation!r})")
    if not np.allclose(pack["frame_shape"], model.mean_shape.double().cpu().numpy(), atol=1e-4):
        problems.append("a different frame mean shape")
    if problems:
        raise DataError("the training pack was made with " + ", ".join(problems) + "; rebuild it")


def main(argv=None) -> None:
    import click

    from faceeval.plugin import data_root_option

    @click.command(help="""Write the DAN training pack: the training faces as one compact file (grey JPEG
canvases + ground truth + validation frames) for a GPU machine where only the repository travels.

\b
Example:
  python -m faceeval_methods.dan.pack --data-root DATA/300w --out .gpu/dan-pack.npz
""", context_settings={"help_option_names": ["-h", "--help"]})
    @data_root_option("300W root (as distributed, or the crop pack; env FACEEVAL_DATA_ROOT).", exists=True,
                      required=True)
    @click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .npz pack to write.")
    @click.option("--val-split", type=click.Choice(VAL_SPLITS), default="photos", show_default=True,
                  help="Validation faces, as `faceeval train dan --val-split` holds them out.")
    @click.option("--val-count", type=click.IntRange(min=0), default=None,
                  help=f"[default: {PHOTOS_VAL_COUNT} with photos, {VAL_COUNT} with first]")
    @click.option("--translation", type=click.Choice(TRANSLATION_MODES), default="released", show_default=True)
    @click.option("--quality", type=click.IntRange(50, 100), default=92, show_default=True, help="JPEG quality.")
    def command(data_root, out, val_split, val_count, translation, quality):
        from faceeval.plugin import load_dataset

        from .train import _LazyImages

        ds = load_dataset("300w", "train", data_root)
        info = write_pack(out, _LazyImages(ds.samples), ds.ground_truth, ds.boxes, ds.ids,
                          np.array([s.photo_scale for s in ds.samples]),
                          default_val_count(val_split) if val_count is None else val_count, translation,
                          quality=quality, val_split=val_split,
                          meta={"data_root": str(data_root), "dataset": "300w/train", "faces": len(ds),
                                "dataset_notes": ds.notes})
        click.echo(f"wrote {out}: {info['n_train']} training canvases, {info['n_val']} validation frames, "
                   f"{Path(out).stat().st_size / 2**20:.1f} MiB")

    from faceeval.plugin import FaceevalError

    try:
        command.main(args=argv, prog_name="python -m faceeval_methods.dan.pack")
    except FaceevalError as e:          # missing or damaged data: one line, no traceback
        raise SystemExit(f"Error: {e}") from None


if __name__ == "__main__":
    main()
