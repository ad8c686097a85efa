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
    assert list(specs) == TABLE3 + FAMILY
    assert [spec.group for spec in specs.values()] == [""] * 6 + ["family"] * 7
    assert [spec.name for spec in select(specs, ["all"])] == TABLE3  # the mirror stays the default
    assert all(spec.paper is not None and spec.description for spec in specs.values())
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
    ],
)
def test_bad_spec_names_file_and_field(tmp_path, text, message):
    with pytest.raises(SpecError, match=None) as err:
        load_spec(write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "X.yaml") in str(err.value)
    assert "\n" not in str(err.value)


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
