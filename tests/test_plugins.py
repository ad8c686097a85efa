"""A package's own block through the entry point group rtbench.blocks: the README's example, run
as written, from a package installed as pip would install it (a dist-info folder on sys.path)."""

import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import conv_norm

from rtbench.measure.params import param_parts
from rtbench.models.build import build_encoder, make_inputs
from rtbench.plugins import plugin_blocks
from rtbench.spec import SpecError, load_spec

README = Path(__file__).resolve().parent.parent / "README.md"
SPEC = "description: the README's block\nintra: {mode: per_level, levels: [S5]}\n"


def readme_example() -> str:
    section = README.read_text().split("### A block of your own", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def install(folder: Path, module: str, entry_points: str, monkeypatch) -> None:
    """What pip leaves behind: the module and its dist-info with entry_points.txt."""
    info = folder / "my_blocks-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-blocks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[rtbench.blocks]\n{entry_points}\n")
    (folder / "my_blocks.py").write_text(module)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "my_blocks", raising=False)


def spec_file(tmp_path: Path, fusion: str) -> Path:
    path = tmp_path / "Mine.yaml"
    path.write_text(SPEC + f"fusion: {{type: {fusion}}}\n")
    return path


def test_the_readme_example_block_is_found_built_and_run(tmp_path, monkeypatch):
    install(tmp_path / "site", readme_example(), "fusion.sumfpn = my_blocks:SumFPN", monkeypatch)
    assert list(plugin_blocks("fusion")) == ["sumfpn"]
    spec = load_spec(spec_file(tmp_path, "sumfpn"))
    model = build_encoder(spec).eval()
    assert param_parts(model)["fusion"] == 2 * conv_norm(256, 256, 3)  # two 3x3 smoothers
    with torch.inference_mode():
        outs = model(make_inputs(spec, "encoder", 64, batch=1))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 8, 8), (1, 256, 4, 4), (1, 256, 2, 2)]


def test_a_block_no_package_declares_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(spec_file(tmp_path, "sumfpn"))
    assert "fusion.type: unknown type 'sumfpn'; choose from none, panet, ccff, elan" in str(
        err.value
    )


def test_a_block_that_cannot_be_imported_is_one_line_at_build(tmp_path, monkeypatch):
    install(tmp_path / "site", "import not_there\n", "fusion.broken = my_blocks:Gone", monkeypatch)
    spec = load_spec(spec_file(tmp_path, "broken"))
    with pytest.raises(SpecError) as err:
        build_encoder(spec)
    said = str(err.value)
    assert "fusion 'broken': cannot load my_blocks:Gone (ModuleNotFoundError" in said
    assert "\n" not in said and str(tmp_path / "Mine.yaml") in said


def test_a_built_in_name_cannot_be_taken_over(tmp_path, monkeypatch):
    install(tmp_path / "site", "X = 1\n", "fusion.ccff = my_blocks:X", monkeypatch)
    spec = load_spec(spec_file(tmp_path, "ccff"))
    assert type(build_encoder(spec).fusion).__name__ == "CCFF"
