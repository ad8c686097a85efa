"""OpenVINO: the exported graph compiled for the CPU with the latency hint, the run's thread count,
and the inference precision set from --dtype explicitly. On CPUs with bf16 units OpenVINO would
otherwise compute in bf16 by default; the precision it reports using is recorded in the row."""

from pathlib import Path

from rtbench.measure.timing import wall_clock
from rtbench.runtimes.base import BuiltModel, Session
from rtbench.runtimes.exported import ExportedRuntime

PRECISIONS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}


class OpenVino(ExportedRuntime):
    name = "openvino"
    label = "OpenVINO"
    devices = ("cpu",)
    modules = ("onnx", "openvino")
    extra = "openvino"
    pool = "openvino"

    def version(self) -> str:
        import openvino

        return openvino.get_version()

    def session(self, onnx_path: Path, built: BuiltModel):
        import openvino as ov

        core = ov.Core()
        requested = PRECISIONS[built.cfg.dtype]
        compiled = core.compile_model(
            core.read_model(str(onnx_path)),
            "CPU",
            {
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": built.threads,
                "INFERENCE_PRECISION_HINT": requested,
            },
        )
        request = compiled.create_infer_request()
        inputs = built.inputs if isinstance(built.inputs, list) else [built.inputs]
        for i, x in enumerate(inputs):
            request.set_input_tensor(i, ov.Tensor(x.contiguous().numpy()))  # shares the memory

        def step():
            request.infer()

        def outputs():
            step()
            return [request.get_output_tensor(i).data.copy() for i in range(len(compiled.outputs))]

        own = compiled.create_infer_request()  # the end-to-end path's, so the timed one's
        # input memory stays the run's

        def infer(image):
            own.infer({0: image.numpy()})
            return [own.get_output_tensor(i).data for i in range(len(compiled.outputs))]

        settings = {
            "device": "CPU",
            "performance_hint": "LATENCY",
            "threads": built.threads,
            "precision_requested": requested,
            "precision_used": _type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
        }
        # OpenVINO plans an inference's memory when it compiles and fills it on the first request,
        # then keeps it for the compiled model: a later call grows the process by ~0 bytes, which
        # is not its peak. No honest figure from outside, so none.
        return Session(step, wall_clock(), lambda: None, settings, infer=infer), outputs


def _type_name(element_type) -> str:
    """OpenVINO's short name of an element type ("f32", "bf16"), as the hint is written."""
    name = getattr(element_type, "get_type_name", None)
    return name() if callable(name) else str(element_type)
