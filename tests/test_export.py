"""ONNX export: every variant exports and computes what PyTorch computes (ONNX Runtime, fp32,
rtol 1e-3); the detector is compared tie-robustly; exports are cached by what changes the graph."""

import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import VARIANTS, randomize_norms

from rtbench.config import RunConfig
from rtbench.export import agreement, cache_key, cached_export, io_names
from rtbench.models.build import build_model, make_inputs
from rtbench.models.deploy import fuse_for_deploy


def built(name: str, scope: str, size: int, deploy: bool = False):
    spec = VARIANTS[name]
    model = build_model(spec, scope)
    randomize_norms(model)  # folding and export must carry real statistics
    if deploy:
        fuse_for_deploy(model)
    inputs = make_inputs(spec, scope, size, 1)
    with torch.inference_mode():
        model(inputs)
    return spec, model, inputs


def run_onnx(path, scope, inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names, outputs = io_names(scope)
    assert [i.name for i in session.get_inputs()] == names
    assert [o.name for o in session.get_outputs()] == outputs
    feeds = dict(zip(names, (x.numpy() for x in (inputs if isinstance(inputs, list) else [inputs])),
                     strict=True))  # fmt: skip
    return session.run(None, feeds)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_exports_and_agrees_at_encoder_scope(tmp_path, name):
    spec, model, inputs = built(name, "encoder", 64)
    exported = cached_export(model, inputs, spec, RunConfig(scope="encoder", size=64), tmp_path)
    onnx.checker.check_model(str(exported.path))
    got = run_onnx(exported.path, "encoder", inputs)
    with torch.inference_mode():
        expected = model(inputs)
    for a, e in zip(got, expected, strict=True):  # the bar, restated here
        torch.testing.assert_close(torch.from_numpy(a), e, rtol=1e-3, atol=1e-4)
    assert agreement(model, inputs, "encoder", got, "fp32").ok


def test_deploy_form_exports_and_agrees(tmp_path):
    spec, model, inputs = built("E", "encoder", 64, deploy=True)
    cfg = RunConfig(scope="encoder", size=64, deploy=True)
    got = run_onnx(cached_export(model, inputs, spec, cfg, tmp_path).path, "encoder", inputs)
    with torch.inference_mode():
        for a, e in zip(got, model(inputs), strict=True):
            torch.testing.assert_close(torch.from_numpy(a), e, rtol=1e-3, atol=1e-4)


@pytest.fixture(scope="module")
def detector():
    return built("E", "detector", 128)


def test_detector_export_agrees_on_replayed_cells(tmp_path, detector):
    spec, model, inputs = detector
    exported = cached_export(model, inputs, spec, RunConfig(size=128), tmp_path)
    logits, boxes, cells = run_onnx(exported.path, "detector", inputs)
    assert logits.shape == (1, 300, 80) and boxes.shape == (1, 300, 4) and cells.shape == (1, 300)
    with torch.inference_mode():
        replayed_logits, replayed_boxes, _ = model.decode(inputs, torch.from_numpy(cells))
    torch.testing.assert_close(torch.from_numpy(logits), replayed_logits, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.from_numpy(boxes), replayed_boxes, rtol=1e-3, atol=1e-4)
    result = agreement(model, inputs, "detector", [logits, boxes, cells], "fp32")
    assert result.ok and result.cells_overlap > 0.9


def test_a_different_selection_is_not_a_disagreement(detector):
    # Another runtime picked one different cell (a near-tie resolved the other way) and so put
    # the queries in another order: row by row the outputs differ, yet it computed the same thing.
    spec, model, inputs = detector
    with torch.inference_mode():
        _, _, cells = model.decode(inputs)
        unused = next(c for c in range(cells.max() + 1) if c not in set(cells[0].tolist()))
        other = torch.cat([cells[:, :-1], torch.tensor([[unused]])], 1).flip(1)
        logits, boxes, _ = model.decode(inputs, other)
        own_logits, _, _ = model.decode(inputs)
    assert not torch.allclose(logits, own_logits)  # a row-by-row comparison would fail
    result = agreement(model, inputs, "detector", [logits, boxes, other], "fp32")
    assert result.ok and result.max_abs == 0.0 and result.cells_overlap == pytest.approx(299 / 300)


def test_a_wrong_output_is_a_disagreement():
    spec, model, inputs = built("A", "encoder", 64)
    with torch.inference_mode():
        outputs = [t.clone() for t in model(inputs)]
        outputs[1][0, 0, 0, 0] += 1.0
    result = agreement(model, inputs, "encoder", outputs, "fp32")
    assert not result.ok and result.max_abs == pytest.approx(1.0, rel=1e-4)


def test_exports_are_cached_by_what_changes_the_graph(tmp_path):
    spec, model, inputs = built("A", "encoder", 64)
    cfg = RunConfig(scope="encoder", size=64)
    first = cached_export(model, inputs, spec, cfg, tmp_path)
    again = cached_export(model, inputs, spec, cfg, tmp_path)
    assert not first.cached and again.cached and again.path == first.path
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary file left
    key = cache_key(spec, cfg, half=False, with_cells=True)
    changed = [
        cache_key(spec, cfg.with_(size=96), False, True),
        cache_key(spec, cfg.with_(deploy=True), False, True),
        cache_key(spec, cfg.with_(seed=1), False, True),
        cache_key(spec, cfg.with_(batch=2), False, True),
        cache_key(spec.model_copy(update={"hidden_dim": 128}), cfg, False, True),
        cache_key(spec, cfg, half=True, with_cells=True),
    ]
    assert len({key, *changed}) == 1 + len(changed)
    # What cannot change the graph does not change the key.
    same = spec.model_copy(update={"description": "another text", "source": "elsewhere.yaml"})
    assert cache_key(same, cfg.with_(threads=1), False, True) == key
