"""What the runtimes that run an exported ONNX graph share: the cached export, one check that the
graph computes what the PyTorch model computes, and the record of both in the row's settings.

A graph whose outputs disagree with PyTorch's beyond tolerance computes something else: its row
fails, with the largest difference, and is neither timed, ranked nor gated, unless the run allows
the mismatch (`--allow-mismatch`); then its row is marked wherever it appears.

Params and FLOPs are counted on the PyTorch model by the runner, once per variant; these runtimes
only time and report what they can see themselves.
"""

from abc import abstractmethod
from pathlib import Path

from rtbench.export import OPSET, ExportError, agreement, cached_export
from rtbench.runtimes.base import BuiltModel, Runtime, Session


class ExportedRuntime(Runtime):
    half_graph = False  # export the graph in fp16 (for a runtime that takes precision from it)

    def prepare(self, built: BuiltModel) -> Session:
        exported = cached_export(built.model, built.inputs, built.spec, built.cfg,
                                 built.cache_dir / "onnx", half=self.wants_half(built))  # fmt: skip
        session, outputs = self.session(exported.path, built)
        checked = agreement(built.model, built.inputs, built.cfg.scope, outputs(), built.cfg.dtype)
        if not checked.ok and not built.cfg.allow_mismatch:
            raise ExportError(
                f"the exported graph's outputs differ from PyTorch's: max |diff| "
                f"{checked.max_abs:.3g}, {checked.worst:.3g}x the tolerance (rtol "
                f"{checked.rtol:g}, atol {checked.atol:g}); --allow-mismatch times it anyway"
            )
        session.settings = {
            "version": self.version(),
            **session.settings,
            "onnx_opset": OPSET,
            "export_s": round(exported.seconds, 3),
            "export_cached": exported.cached,
            "agreement": checked.record(),
        }
        return session

    def wants_half(self, built: BuiltModel) -> bool:
        return False

    @abstractmethod
    def session(self, onnx_path: Path, built: BuiltModel) -> tuple[Session, callable]:
        """The timed session of the graph at `onnx_path`, and a function returning the outputs of
        its last step (in the graph's output order), for the agreement check."""
