"""Detector scope: Table 3's #Params reproduced for all six rows, forward at a small size, the
FLOP cross-check, and the deploy form computing what the training form computes."""

import math

import pytest
import torch
from conftest import VARIANTS, randomize_norms

from rtbench.measure.flops import count_flops
from rtbench.measure.params import count_params
from rtbench.models.build import build_model, make_inputs
from rtbench.models.deploy import fuse_for_deploy

SIZE = 128  # the smallest side whose levels hold the decoder's 300 queries


@pytest.fixture(scope="module")
def detectors():
    return {name: build_model(spec, "detector") for name, spec in VARIANTS.items()}


def test_params_truncated_to_millions_equal_table_3(detectors):
    measured = {name: math.floor(count_params(m) / 1e6) for name, m in detectors.items()}
    paper = {name: spec.paper.params_m for name, spec in VARIANTS.items()}
    assert measured == paper == {"A": 31, "B": 32, "C": 32, "D": 35, "Ds5": 35, "E": 42}
    assert count_params(detectors["E"]) == 42_891_372  # RT-DETR-R50: 42.89M


@pytest.mark.parametrize("name", list(VARIANTS))
def test_detector_forward_and_flop_crosscheck(detectors, name):
    model = detectors[name]
    images = make_inputs(VARIANTS[name], "detector", SIZE, batch=1)
    with torch.inference_mode():
        logits, boxes = model(images)
    assert logits.shape == (1, 300, 80) and boxes.shape == (1, 300, 4)
    assert torch.isfinite(logits).all() and ((boxes >= 0) & (boxes <= 1)).all()
    flops = count_flops(model, images)
    assert abs(flops["flops_crosscheck_diff_pct"]) < 1.0
    assert flops["flops_uncounted_ops"] == {}
    assert flops["gmacs_parts"]["backbone"] > 0 and flops["gmacs_parts"]["decoder"] > 0
    assert "grid_sampler" in flops["gmacs_by_op"]  # deformable sampling is counted


@pytest.mark.parametrize("name", list(VARIANTS))
def test_deploy_form_matches_at_encoder_scope(name):
    spec = VARIANTS[name]
    model = build_model(spec, "encoder")
    randomize_norms(model)
    feats = make_inputs(spec, "encoder", 64, batch=2)
    with torch.inference_mode():
        before = model(feats)
        fuse_for_deploy(model)
        after = model(feats)
    for a, b in zip(after, before, strict=True):  # float32 re-association only
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


def test_deploy_form_of_the_whole_detector_matches_in_float64():
    # float64: top-300 query selection has near-ties that float32 rounding can reorder.
    model = build_model(VARIANTS["E"], "detector").double()
    randomize_norms(model)
    images = make_inputs(VARIANTS["E"], "detector", SIZE, batch=1).double()
    with torch.inference_mode():
        logits, boxes = model(images)
        params = count_params(model)
        fuse_for_deploy(model)
        fused_logits, fused_boxes = model(images)
    torch.testing.assert_close(fused_logits, logits, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(fused_boxes, boxes, rtol=1e-9, atol=1e-9)
    assert count_params(model) < params  # RepVGG branches merged, BN folded
