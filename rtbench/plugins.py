"""Blocks from other packages: the Python entry point group `rtbench.blocks`.

A package adds a block without touching rtbench by declaring, in its pyproject.toml,

    [project.entry-points."rtbench.blocks"]
    "fusion.sumfpn" = "my_blocks:SumFPN"

The entry point's name is `<kind>.<name>`: kind is what the block is (`backbone`, `intra`,
`fusion`, the spec sections with a `type` or `mode`), name is what a spec writes there
(`fusion: {type: sumfpn}`). Names are read from the installed packages' metadata, which imports
nothing, so a spec is checked before torch is loaded; the class is imported when a model is built
(rtbench.models.build). A built-in name cannot be taken over.
"""

from importlib.metadata import EntryPoint, entry_points

GROUP = "rtbench.blocks"
KINDS = ("backbone", "intra", "fusion")


def plugin_blocks(kind: str) -> dict[str, EntryPoint]:
    """The installed packages' blocks of one kind, by the name a spec uses (not cached: a package
    installed meanwhile is seen)."""
    if kind not in KINDS:
        raise ValueError(f"unknown block kind {kind!r}; choose from {', '.join(KINDS)}")
    found = {}
    for point in entry_points(group=GROUP):
        prefix, _, name = point.name.partition(".")
        if prefix == kind and name:
            found.setdefault(name, point)  # the first on sys.path wins, as imports do
    return found


def choices(kind: str, builtin: tuple[str, ...]) -> tuple[str, ...]:
    """Every name a spec may use for a kind: the built-in ones first."""
    return builtin + tuple(n for n in sorted(plugin_blocks(kind)) if n not in builtin)
