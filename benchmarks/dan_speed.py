"""DAN speed on the machine it runs on: inference (batch 256 and batch 1) and training, fp32 vs bf16 vs int8.

    python benchmarks/dan_speed.py [--weights PATH] [--stages 2] [--device auto] [--compile] [--no-training]
                                   [--threads 1]

Inputs are the builtin faces with the protocol's training perturbations (so the numbers
need no dataset). Inference is timed on frames already in the 112x112 crop (the model),
and once end to end through ``DAN.predict`` (cropping included). Training is timed on
the last stage's phase of stage-wise training (earlier stages frozen), batch 64, sample
generation on the device included, both running the frozen stages every step and with
their outputs cached (``--cache-frozen``, the default with fixed samples; the cache pass
runs once per stage and is reported separately); ``train_img_s`` is the faster. With 2+
stages, end-to-end fine-tuning (every stage trained at once, ``--finetune-epochs``) is
timed too (``finetune_img_s``). bf16 is accepted when the mean error of its predictions is within 1% (relative)
of fp32's on the same inputs.

bf16 inference on the CPU runs on fused oneDNN kernels (``faceeval_methods.dan.fused``); the
autocast path it replaced is timed too (``bf16_unfused_infer_batched_img_s``). int8 (on CPUs
with VNNI/AMX) uses the weights' stored calibration (``dan.int8.json``), else scales calibrated
on the benchmark's own frames (said so); its error is compared with bf16's.

With ``--threads 1`` every time is the CPU time of the one thread (``roofline.clock``): a per-core
figure that other processes on a shared machine do not inflate.

Then the roofline (``roofline.py``): each precision's batched inference speed as a fraction of
its matmul peak (bf16 against the bf16 peak, int8 against the uint8 x int8 peak) over the
model's multiply-accumulates per image. The last lines are ``key=value`` figures.

Without trained weights the model is randomly initialised (its last layers made non-zero
so every layer affects the output): the speed is the same, the error check then only
compares two random models' numerics.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
# as `faceeval run` does (faceeval.cli.common.sleeping_openmp_waits): OpenMP threads sleep at barriers
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faceeval.datasets import load_dataset  # noqa: E402
from faceeval.metrics import point_to_point_error  # noqa: E402
from faceeval.runs import cpu_model  # noqa: E402
from faceeval_methods.dan import DAN, DANConfig, DANModel  # noqa: E402
from faceeval_methods.dan.augment import Canvases, sample_perturbations  # noqa: E402
from faceeval_methods.dan.model import alignment_loss  # noqa: E402
from faceeval_methods.dan.fused import MICRO_BATCH, FusedStage  # noqa: E402
from faceeval_methods.dan.device import INT8_FLAGS, cpu_has_bf16, cpu_has_int8, resolve_device  # noqa: E402
from faceeval_methods.dan.weights import weights_paths  # noqa: E402
from roofline import clock, count_macs, matmul_peak_gmac_s  # noqa: E402


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = cpu_model()
    flags = [f for f in ("avx512_bf16", "amx_bf16") + INT8_FLAGS if f in Path("/proc/cpuinfo").read_text()] \
        if Path("/proc/cpuinfo").exists() else []
    timing = " (times: that thread's CPU time)" if torch.get_num_threads() == 1 else ""
    return (f"{name}, {torch.get_num_threads()} threads{timing}, {'+'.join(flags) or 'no bf16 ISA'}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeat: int) -> float:
    """Median seconds of ``repeat`` calls after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        sync(device)
        times.append(clock() - t)
    return statistics.median(times)


def make_model(args, device) -> tuple[DANModel, str]:
    tensors, _ = weights_paths(args.weights)
    if tensors.is_file():
        from faceeval_methods.dan.weights import load_weights
        return load_weights(tensors), f"trained weights {tensors}"
    torch.manual_seed(0)
    m = DANModel(DANConfig(stages=args.stages))
    for st in m.stages:
        torch.nn.init.normal_(st.fc2.weight, std=0.01)
    m.norm_mean.fill_(110.0)
    m.norm_std.fill_(60.0)
    return m, "random initialisation (no weights found)"


def int8_calibration(args, model: DANModel, frames: torch.Tensor) -> dict:
    """The stored calibration of the weights (``dan.int8.json``), else scales from ``frames`` (speed only)."""
    from faceeval.methods import file_hash
    from faceeval_methods.dan.calibration import activation_scales, calibration_path, load_calibration
    from faceeval_methods.dan.model import fold_batchnorm

    tensors, _ = weights_paths(args.weights)
    if tensors.is_file() and calibration_path(tensors).is_file():
        print(f"int8: calibration {calibration_path(tensors)}")
        return load_calibration(tensors, file_hash(tensors), model.cfg.stages)
    print("int8: no stored calibration for these weights: scales from the benchmark's own frames")
    return {"stages": activation_scales(fold_batchnorm(model), frames.cpu())}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="dan.safetensors or its folder (default location if present)")
    ap.add_argument("--stages", type=int, default=2, help="stages of the random model when there are no weights")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd inference")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--no-training", action="store_true", help="inference only")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads; 1 times the CPU time of that thread (robust on a shared machine)")
    ap.add_argument("--micro-batch", type=int, default=None,
                    help="frames per pass through the fused CPU convolutions (0: all frames of a forward pass; "
                         "default: 8 in bf16, 16 in int8)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    FusedStage.micro_batch = args.micro_batch
    cl = not args.no_channels_last
    model, origin = make_model(args, device)
    stages = model.cfg.stages
    print(f"device: {device_name(device)}  torch {torch.__version__}")
    print(f"model: DAN {stages} stages, {origin}; channels_last={cl}; fused CPU kernels: "
          f"{DAN.forward_batch or 'all'} frames a forward pass, "
          f"{MICRO_BATCH if args.micro_batch is None else args.micro_batch or 'all'} a pass through the convolutions")

    ds = load_dataset("builtin")
    images = [s.load_image() for s in ds.samples]
    frame_shape = model.mean_shape.double().numpy()
    canv = Canvases(images, ds.ground_truth, frame_shape, model.cfg.image_size, device)
    n = args.batch
    gen = torch.Generator().manual_seed(0)
    idx = torch.arange(n) % len(canv)
    mirror = torch.arange(n) % 2 == 1
    frames, gt = canv.batch(idx, mirror, sample_perturbations(n, gen, frame_shape))

    # multiply-accumulates per image of the first k stages (model still on the CPU, float32)
    macs = [count_macs(model.eval(), frames[:1].float().cpu(), k) for k in range(1, stages + 1)]
    stage_macs = [macs[0]] + [b - a for a, b in zip(macs, macs[1:])]
    print("GMAC per image: " + ", ".join(f"stage {k + 1} {m / 1e9:.2f}" for k, m in enumerate(stage_macs)))

    precisions = ["fp32", "bf16"] if (device.type == "cuda" or cpu_has_bf16()) else ["fp32"]
    int8 = device.type == "cpu" and cpu_has_int8()
    calibration = int8_calibration(args, model, frames) if int8 else None
    res: dict = {}
    preds = {}
    variants = [(p, {}) for p in precisions]
    if "bf16" in precisions and device.type == "cpu":
        variants.append(("bf16_unfused", {"precision": "bf16", "fused": False}))
    if int8:
        variants.append(("int8", {"calibration": calibration}))
    for prec, extra in variants:
        opts = {"precision": prec, **extra}
        dan = DAN(model, device=str(device), channels_last=cl, **opts)
        with torch.inference_mode():
            preds[prec] = dan.predict_frames(frames).double().cpu().numpy()
        t = timed(lambda: dan.predict_frames(frames), device, args.repeat)
        res[f"{prec}_infer_batched_img_s"] = n / t
        one = frames[:1]
        t1 = timed(lambda: dan.predict_frames(one), device, max(10, 3 * args.repeat))
        res[f"{prec}_infer_batch1_ms"] = 1000 * t1
        print(f"{prec}: inference batch {n}: {n / t:9.1f} img/s   batch 1: {1000 * t1:8.2f} ms", flush=True)
        if args.compile and prec in precisions:
            dc = DAN(model, device=str(device), precision=prec, channels_last=cl, compile=True)
            t0 = time.perf_counter()
            dc.predict_frames(frames)
            print(f"{prec}: torch.compile warm-up {time.perf_counter() - t0:.0f} s", flush=True)
            t = timed(lambda: dc.predict_frames(frames), device, args.repeat)
            res[f"{prec}_compiled_infer_batched_img_s"] = n / t
            print(f"{prec}: compiled inference batch {n}: {n / t:9.1f} img/s", flush=True)
    if int8:
        res["int8_over_bf16"] = res["int8_infer_batched_img_s"] / res.get("bf16_infer_batched_img_s",
                                                                          res["fp32_infer_batched_img_s"])
        print(f"int8 / {'bf16' if 'bf16' in precisions else 'fp32'} batched: {res['int8_over_bf16']:.2f}x")

    gt_np = gt.double().cpu().numpy()
    err = {p: float(point_to_point_error(preds[p], gt_np, "inter-pupil").mean()) for p in preds}
    res["err_fp32"] = err["fp32"]
    bf16_ok = False
    if "bf16" in preds:
        res["err_bf16"] = err["bf16"]
        res["bf16_rel_err_diff"] = abs(err["bf16"] - err["fp32"]) / err["fp32"]
        ipd = np.linalg.norm(gt_np[:, 36:42].mean(1) - gt_np[:, 42:48].mean(1), axis=-1)
        res["bf16_vs_fp32_shape_diff"] = float((np.linalg.norm(preds["bf16"] - preds["fp32"], axis=-1).mean(1)
                                                / ipd).mean())
        bf16_ok = res["bf16_rel_err_diff"] <= 0.01
        print(f"error (inter-pupil, perturbed builtin frames): fp32 {err['fp32']:.5f}  bf16 {err['bf16']:.5f}  "
              f"relative difference {100 * res['bf16_rel_err_diff']:.3f}% ({'ok' if bf16_ok else 'over 1%'})")
    if "int8" in preds:
        ref = "bf16" if "bf16" in preds else "fp32"
        res["err_int8"] = err["int8"]
        res["int8_rel_err_diff"] = (err["int8"] - err[ref]) / err[ref]
        print(f"error (inter-pupil, perturbed builtin frames): int8 {err['int8']:.5f}, "
              f"{100 * res['int8_rel_err_diff']:+.3f}% relative to {ref}")

    # end to end through the plugin (cropping from the original images included), best precision and int8
    best = "bf16" if bf16_ok and res["bf16_infer_batched_img_s"] > res["fp32_infer_batched_img_s"] else "fp32"
    imgs = [images[i % len(images)] for i in range(n)]
    boxes = np.stack([ds.boxes[i % len(images)] for i in range(n)])
    for prec, extra in [(best, {})] + ([("int8", {"calibration": calibration})] if int8 else []):
        dan = DAN(model, device=str(device), precision=prec, channels_last=cl, **extra)
        t = timed(lambda: dan.predict(imgs, boxes), device, max(1, args.repeat - 1))
        res["e2e_predict_img_s" if prec == best else f"{prec}_e2e_predict_img_s"] = n / t
        print(f"{prec}: end-to-end DAN.predict batch {n} (crop + model): {n / t:9.1f} img/s", flush=True)

    if not args.no_training:
        # training: the last stage's phase (earlier stages frozen), sample generation included; with the
        # frozen stages run every step, and with their outputs cached once per phase (fixed samples)
        tb = args.train_batch
        pool = 4 * tb
        gp = torch.Generator().manual_seed(1)
        pool_idx = torch.randint(len(canv), (pool,), generator=gp)
        pool_mirror = torch.rand(pool, generator=gp) < 0.5
        pool_perturb = sample_perturbations(pool, gp, frame_shape)
        for prec in precisions:
            torch.manual_seed(0)
            m = DANModel(model.cfg).to(device)
            m.load_state_dict(model.state_dict())
            if cl:
                m = m.to(memory_format=torch.channels_last)
            params = m.stage_parameters(stages)
            opt = torch.optim.Adam(params, lr=1e-3)
            for p in m.parameters():
                p.requires_grad_(False)
            for p in params:
                p.requires_grad_(True)
            bf = prec == "bf16"
            cache = None
            if stages > 1:
                m.eval()
                t0 = time.perf_counter()
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf):
                    f, _ = canv.batch(pool_idx, pool_mirror, pool_perturb)
                    cache = tuple(c.float() for c in m.frozen_outputs(f, stages - 1))
                sync(device)
                res[f"{prec}_cache_img_s"] = pool / (time.perf_counter() - t0)
            m.train()
            for s in m.stages[:stages - 1]:
                s.eval()
            g = torch.Generator().manual_seed(2)

            def draw():
                """A training batch from the pool: its indices, frames and targets."""
                i = torch.randint(pool, (tb,), generator=g)
                with torch.no_grad():
                    f, y = canv.batch(pool_idx[i], pool_mirror[i], pool_perturb[i])
                return i, (f.contiguous(memory_format=torch.channels_last) if cl else f), y

            def step(cached):
                i, f, y = draw()
                start = (cache[0][i.to(device)], cache[1][i.to(device)]) if cached else None
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf):
                    out = m(f, stages, stages - 1, start)
                loss = alignment_loss(out[-1], y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            t = timed(lambda: step(False), device, args.repeat)
            res[f"{prec}_train_img_s"] = tb / t
            line = f"{prec}: training (stage {stages} phase, batch {tb}): {tb / t:9.1f} img/s"
            if cache is not None:
                t = timed(lambda: step(True), device, args.repeat)
                res[f"{prec}_train_cached_img_s"] = tb / t
                res[f"{prec}_train_img_s"] = max(res[f"{prec}_train_img_s"], tb / t)
                line += (f"   with frozen stages cached: {tb / t:9.1f} img/s "
                         f"(cache pass {res[f'{prec}_cache_img_s']:.1f} img/s, once per stage)")
            print(line, flush=True)
            if stages > 1:                      # end-to-end fine-tuning: every stage trained at once
                params = [q for k in range(1, stages + 1) for q in m.stage_parameters(k)]
                for q in params:
                    q.requires_grad_(True)
                opt = torch.optim.Adam(params, lr=1e-3)
                m.train()

                def finetune_step():
                    _, f, y = draw()
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf):
                        out = m(f, stages, 0)
                    loss = alignment_loss(out[-1], y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()

                t = timed(finetune_step, device, args.repeat)
                res[f"{prec}_finetune_img_s"] = tb / t
                print(f"{prec}: end-to-end fine-tuning ({stages} stages trained, batch {tb}): {tb / t:9.1f} img/s",
                      flush=True)

    train_best = None if args.no_training else max(
        precisions, key=lambda p: res[f"{p}_train_img_s"] if p == "fp32" or bf16_ok else -1)

    # roofline: the matmul peak in the precision used, over the arithmetic per image; training
    # counts forward + backward of the trained stage as 3x its forward (frozen stages cached)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.int8}
    rooflines = [(f"{p}_inference", p, res[f"{p}_infer_batched_img_s"], macs[-1] / 1e9)
                 for p in ("bf16", "int8") if f"{p}_infer_batched_img_s" in res]
    rooflines.append(("inference", best, res[f"{best}_infer_batched_img_s"], macs[-1] / 1e9))
    if train_best is not None:
        rooflines.append(("training", train_best, res[f"{train_best}_train_img_s"], 3 * stage_macs[-1] / 1e9))
        if f"{train_best}_finetune_img_s" in res:       # every stage forward + backward
            rooflines.append(("finetune", train_best, res[f"{train_best}_finetune_img_s"], 3 * macs[-1] / 1e9))
    for kind, prec, rate, gmac in rooflines:
        if f"{prec}_matmul_peak_gmac_s" not in res:   # measured once per precision
            res[f"{prec}_matmul_peak_gmac_s"] = matmul_peak_gmac_s(device, dtypes[prec])
        peak = res[f"{prec}_matmul_peak_gmac_s"]
        bound = res[f"{kind}_roofline_img_s"] = peak / gmac
        res[f"{kind}_roofline_fraction"] = rate / bound
        print(f"roofline ({kind}, {prec}): matmul peak {peak:.0f} GMAC/s / {gmac:.2f} GMAC per image = "
              f"{bound:.1f} img/s; measured {rate:.1f} img/s = {rate / bound:.0%} of it", flush=True)
    res.update(device=device_name(device).replace(" ", "_"), stages=stages, precision=best,
               infer_batched_img_s=res[f"{best}_infer_batched_img_s"],
               infer_batch1_ms=res[f"{best}_infer_batch1_ms"],
               **({} if train_best is None else {"train_precision": train_best,
                                                 "train_img_s": res[f"{train_best}_train_img_s"]}),
               bf16_within_1pct=bf16_ok if "bf16" in preds else "n/a")
    for k in ("device", "stages", "precision", "train_precision", "fp32_infer_batched_img_s",
              "bf16_unfused_infer_batched_img_s", "bf16_infer_batched_img_s", "int8_infer_batched_img_s",
              "int8_over_bf16", "fp32_infer_batch1_ms", "bf16_infer_batch1_ms", "int8_infer_batch1_ms",
              "fp32_train_img_s", "bf16_train_img_s", "fp32_finetune_img_s", "bf16_finetune_img_s",
              "err_fp32", "err_bf16", "bf16_rel_err_diff",
              "bf16_within_1pct", "err_int8", "int8_rel_err_diff", "e2e_predict_img_s", "int8_e2e_predict_img_s",
              "infer_batched_img_s",
              "infer_batch1_ms", "train_img_s", "fp32_matmul_peak_gmac_s", "bf16_matmul_peak_gmac_s",
              "int8_matmul_peak_gmac_s", "bf16_inference_roofline_fraction", "int8_inference_roofline_fraction",
              "inference_roofline_fraction", "training_roofline_fraction",
              "finetune_roofline_fraction"):
        if k in res:
            v = res[k]
            print(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return res


if __name__ == "__main__":
    main()
