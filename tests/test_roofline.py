"""The arithmetic count the DAN benchmark judges its speed against (benchmarks/roofline.py)."""
from conftest import needs_extra_module

needs_extra_module("dan")

import importlib.util
from pathlib import Path

import torch

from faceeval_methods.dan import DANConfig, DANModel

_spec = importlib.util.spec_from_file_location("roofline", Path(__file__).resolve().parents[1] / "benchmarks" / "roofline.py")
roofline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roofline)


def test_macs_of_convolutions_and_linear_layers_are_counted_by_hand():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 5 * 5, 5))
    x = torch.zeros(2, 3, 10, 10)
    by_hand = 2 * (8 * 10 * 10 * 3 * 3 * 3 + 8 * 5 * 5 * 2 * 3 * 3 + 5 * 200)
    assert roofline.count_macs(net, x) == by_hand
    assert not net[0]._forward_hooks                      # the counting hooks are gone afterwards


def test_a_later_dan_stage_costs_about_as_much_as_the_first():
    m = DANModel(DANConfig(stages=2)).eval()               # the paper's widths
    x = torch.zeros(1, 1, 112, 112)
    one, two = roofline.count_macs(m, x, 1), roofline.count_macs(m, x, 2)
    assert 2.5e9 < one < 2.6e9                            # the VGG-like stage on a 112 x 112 frame
    assert 1.95 * one < two < 2.05 * one                  # stage 2: the same network on 3 input channels


def test_matmul_peak_is_a_positive_rate():
    assert roofline.matmul_peak_gmac_s("cpu", torch.float32, size=128, repeat=1) > 0


def test_the_int8_and_bf16_peaks_are_positive_rates_and_the_best_size_counts():
    for dtype in (torch.int8, torch.bfloat16):
        assert roofline.matmul_peak_gmac_s("cpu", dtype, size=128, repeat=1) > 0
    calls = []
    real = roofline._product_rate
    roofline._product_rate = lambda device, dtype, n, repeat: calls.append(n) or {64: 5.0, 128: 9.0}[n]
    try:
        assert roofline.matmul_peak_gmac_s("cpu", torch.float32, size=(64, 128), repeat=1) == 9.0
    finally:
        roofline._product_rate = real
    assert calls == [64, 128]
