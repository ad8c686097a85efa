from pathlib import Path

import pytest

from rtbench.spec import SpecError, load_spec, load_variants, select

E_YAML = """
name: E2
description: AIFI on S4 and S5 with CCFF
intra: {mode: per_level, levels: [S4, S5], shared: false}
fusion: {type: ccff}
"""


def write(tmp_path: Path, text: str, name: str = "X.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


TABLE3 = ["A", "B", "C", "D", "Ds5", "E"]
FAMILY = ["rtdetr-l", "rtdetr-r18", "rtdetr-r34", "rtdetr-r50", "rtdetr-r50m", "rtdetr-r101",
          "rtdetr-x"]  # fmt: skip


def test_shipped_variants_load_in_table_order():
    specs = load_variants()
    assert list(specs) == [*TABLE3, "E-elan", *FAMILY]  # the folder's own, then its subfolders'
    assert [spec.group for spec in specs.values()] == [""] * 6 + ["dfine"] + ["family"] * 7
    assert [spec.name for spec in select(specs, ["all"])] == TABLE3  # the mirror stays the default
    assert all(specs[name].paper is not None for name in TABLE3 + FAMILY)
    assert specs["E-elan"].paper is None  # no paper measured E with D-FINE's fusion
    assert all(spec.description for spec in specs.values())
    assert specs["E"].intra.levels == ("S5",) and specs["E"].fusion.type == "ccff"
    assert specs["C"].intra.mode == "joint" and specs["C"].intra.level_embedding is False


def test_user_variant_without_paper_values(tmp_path):
    spec = load_spec(write(tmp_path, E_YAML))
    assert spec.name == "E2" and spec.paper is None
    assert spec.level_indices() == (1, 2) and spec.intra.shared is False


def test_name_defaults_to_file_stem(tmp_path):
    spec = load_spec(write(tmp_path, "description: plain\n", "Mine.yaml"))
    assert spec.name == "Mine" and spec.intra.mode == "none"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("description: x\nfusoin: {type: ccff}\n", "X.yaml: fusoin: unknown field"),
        (
            "description: x\nintra: {mode: per_level, levels: [S5], layrs: 2}\n",
            "intra.layrs: unknown",
        ),
        ("description: x\nhidden_dim: wide\n", "hidden_dim: expected int, got text 'wide'"),
        ("description: x\nintra: {mode: per_level, levels: S5}\n", "intra.levels: expected a list"),
        ("description: x\nintra: {mode: sideways, levels: [S5]}\n", "unknown mode 'sideways'"),
        ("description: x\nintra: {mode: per_level, levels: [S6]}\n", "unknown level 'S6'"),
        ("description: x\nintra: {mode: per_level, levels: []}\n", "name at least one level"),
        ("description: x\nintra: {mode: per_level, levels: [S5], heads: 3}\n", "intra.heads"),
        ("description: x\nfusion: {type: bifpn}\n", "choose from none, panet, ccff"),
        ("description: x\nfusion: {type: ccff, depth: 0}\n", "fusion.depth: must be at least 1"),
        ("description: x\nintra: {shared: yes please}\n", "intra.shared: expected bool"),
        ("description: x\npaper: {ap: 147, params_m: 3, latency_ms: 1}\n", "paper.ap"),
        ("description: x\npaper: {ap: 40}\n", "paper.params_m: required field is missing"),
        ("name: x\n", "description: required field is missing"),
        ("- just\n- a list\n", "expected a mapping of fields, got a list"),
        ("description: [unclosed\n", "malformed YAML (line"),
        ("description: x\nbackbone: {type: presnet, depth: 152}\n", "backbone.depth"),
        ("description: x\nbackbone: {type: presnet, arch: L}\n", "backbone.arch: does not apply"),
        ("description: x\nbackbone: {type: hgnetv2, depth: 50}\n", "depth: does not apply"),
        ("description: x\nbackbone: {type: vit}\n", "choose from presnet, hgnetv2"),
        ("description: x\nfusion: {type: ccff, expansion: 0}\n", "fusion.expansion"),
        ("description: x\ndecoder: {layers: 3, eval_idx: 3}\n", "decoder.eval_idx: not a layer"),
        ("description: x\ndecoder: {eval_idx: -7}\n", "decoder.eval_idx: not a layer"),
        ("description: x\ndecoder: {heads: 7}\n", "decoder.heads: must divide"),
        ("description: x\ndecoder: {queries: 0}\n", "decoder.queries"),
        ("description: x\ngroup: family\n", "group: unknown field"),
        ("description: x\nbase: rtdetr-r18\n", "base: unknown field"),
    ],
)
def test_bad_spec_names_file_and_field(tmp_path, text, message):
    with pytest.raises(SpecError, match=None) as err:
        load_spec(write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "X.yaml") in str(err.value)
    assert "\n" not in str(err.value)


def test_new_keys_default_to_table_3s_model():
    # Every key added for the family defaults to RT-DETR-R50's value: the six specs, which set
    # none of them, keep their meaning (their params and outputs are tested in test_detector.py).
    for spec in select(load_variants(), ["all"]):
        assert (spec.backbone.type, spec.backbone.depth, spec.backbone.freeze_norm) == (
            "presnet", 50, True)  # fmt: skip
        assert spec.fusion.expansion == 1.0 and spec.in_channels == (512, 1024, 2048)
        decoder = spec.decoder
        assert (decoder.layers, decoder.eval_idx, decoder.queries, decoder.hidden_dim) == (
            6, -1, 300, 256)  # fmt: skip
        assert (decoder.heads, decoder.ffn_dim, decoder.num_points) == (8, 1024, 4)


def test_select_on_a_base():
    specs = load_variants()
    chosen = select(specs, ["all"], base="RTDETR-R34")  # names are case-insensitive
    assert [s.name for s in chosen] == TABLE3 and {s.base for s in chosen} == {"rtdetr-r34"}
    assert all(s.backbone.depth == 34 and s.decoder.layers == 4 for s in chosen)
    assert [s.intra.mode for s in chosen] == [specs[n].intra.mode for n in TABLE3]
    assert [s.fusion.type for s in chosen] == [specs[n].fusion.type for n in TABLE3]
    with pytest.raises(SpecError, match="unknown base 'R200'"):
        select(specs, ["E"], base="R200")


def test_select_all_subset_and_case():
    specs = load_variants()
    assert [s.name for s in select(specs, ["all"])] == TABLE3
    assert [s.name for s in select(specs, ["e", "A", "ds5"])] == ["E", "A", "Ds5"]


def test_unknown_variant_lists_valid_names():
    with pytest.raises(SpecError, match="unknown variant 'F'; valid names: A, B, C, D, Ds5, E"):
        select(load_variants(), ["F"])


def test_duplicate_names_and_empty_folder(tmp_path):
    with pytest.raises(SpecError, match="no variant files"):
        load_variants(tmp_path)
    write(tmp_path, "name: Q\ndescription: one\n", "a.yaml")
    write(tmp_path, "name: Q\ndescription: two\n", "b.yaml")
    with pytest.raises(SpecError, match="'Q' is already used"):
        load_variants(tmp_path)
    with pytest.raises(SpecError, match="variants folder not found"):
        load_variants(tmp_path / "missing")


def test_spec_names_are_the_block_registries():
    from rtbench.models.attention import INTRA_BLOCKS
    from rtbench.models.fusion import FUSION_BLOCKS
    from rtbench.spec import FUSION_TYPES, INTRA_MODES

    assert set(INTRA_MODES) == {"none", *INTRA_BLOCKS}
    assert set(FUSION_TYPES) == {"none", *FUSION_BLOCKS}
