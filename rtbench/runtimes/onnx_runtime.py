"""ONNX Runtime: the exported graph on the CPU execution provider, or on the CUDA provider when the
installed build has one, with inputs and outputs bound on the GPU so that no host copy is timed.

Settings: intra-op threads = the run's thread count (ONNX Runtime's own setting, not torch's), one
inter-op thread, sequential execution, every graph optimization.
"""

from pathlib import Path

import numpy as np
import torch

from rtbench.config import RunConfig
from rtbench.measure.memory import process_peak
from rtbench.measure.timing import cuda_event_clock, wall_clock
from rtbench.runtimes.base import BuiltModel, Session
from rtbench.runtimes.exported import ExportedRuntime

CUDA_PROVIDER = "CUDAExecutionProvider"


class OnnxRuntime(ExportedRuntime):
    name = "onnxruntime"
    label = "ONNX Runtime"
    devices = ("cpu", "cuda")
    modules = ("onnx", "onnxruntime")
    extra = "onnx"
    pool = "onnxruntime"

    def version(self) -> str:
        import onnxruntime

        return onnxruntime.__version__

    def unavailable(self, device: torch.device, cfg: RunConfig) -> str | None:
        reason = super().unavailable(device, cfg)
        if reason is not None:
            return reason
        import onnxruntime

        if device.type == "cuda" and CUDA_PROVIDER not in onnxruntime.get_available_providers():
            return (
                "runtime onnxruntime: this onnxruntime build has no CUDA provider; "
                "pip install onnxruntime-gpu"
            )
        if cfg.dtype != "fp32" and device.type == "cpu":
            return "runtime onnxruntime runs fp32 on the CPU; use --dtype fp32 (or openvino)"
        if cfg.dtype == "bf16":
            return "runtime onnxruntime: bf16 is not supported; use --dtype fp32 or fp16"
        return None

    def wants_half(self, built: BuiltModel) -> bool:
        return built.cfg.dtype == "fp16"  # CUDA only: the precision is the graph's

    def session(self, onnx_path: Path, built: BuiltModel):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = built.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # Its threads would spin for over 20 ms after each run, into the next workload's call
        # (OpenVINO's took 29% longer after one): in interleaved rounds they wait idle instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        settings = {"intra_op_threads": built.threads, "graph_optimization": "all",
                    "spinning": False}  # fmt: skip
        inputs = built.inputs if isinstance(built.inputs, list) else [built.inputs]
        if built.device.type == "cpu":
            sess = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs, strict=True)}

            def step():
                return sess.run(None, feeds)

            def infer(image):  # a new image: the end-to-end path
                return sess.run(None, {sess.get_inputs()[0].name: image.numpy()})

            settings["provider"] = "CPUExecutionProvider"
            session = Session(step, wall_clock(), lambda: process_peak(step), settings, infer=infer)
            return session, step
        return self._cuda_session(ort, onnx_path, options, inputs, built, settings)

    def _cuda_session(self, ort, onnx_path, options, inputs, built: BuiltModel, settings: dict):
        device = built.device
        index = device.index or 0
        stream = torch.cuda.Stream(device)  # ONNX Runtime computes on it, the clock records on it
        provider = (
            CUDA_PROVIDER,
            {"device_id": index, "user_compute_stream": str(stream.cuda_stream)},
        )
        sess = ort.InferenceSession(str(onnx_path), options, providers=[provider])
        half = self.wants_half(built)
        bound = [
            x.to(device, torch.float16 if half else torch.float32).contiguous() for x in inputs
        ]
        binding = sess.io_binding()
        for spec, x in zip(sess.get_inputs(), bound, strict=True):
            binding.bind_input(spec.name, "cuda", index, _numpy_dtype(x.dtype), tuple(x.shape),
                               x.data_ptr())  # fmt: skip
        outputs = []
        for spec in sess.get_outputs():
            out = torch.empty(spec.shape, dtype=_torch_dtype(spec.type), device=device)
            binding.bind_output(spec.name, "cuda", index, _numpy_dtype(out.dtype),
                                tuple(out.shape), out.data_ptr())  # fmt: skip
            outputs.append(out)

        def step():
            sess.run_with_iobinding(binding)

        def infer(image):  # a new image, copied into the bound input: the end-to-end path
            bound[0].copy_(image)
            torch.cuda.current_stream(device).synchronize()  # the copy, before ORT's stream
            step()
            stream.synchronize()
            return outputs

        settings["provider"] = CUDA_PROVIDER
        # ONNX Runtime allocates outside torch: no honest peak figure from here.
        session = Session(step, cuda_event_clock(device, stream), lambda: None, settings,
                          infer=infer)  # fmt: skip
        return session, lambda: (step(), torch.cuda.synchronize(device), outputs)[-1]


_TYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16,
          "tensor(int64)": torch.int64}  # fmt: skip


def _torch_dtype(onnx_type: str) -> torch.dtype:
    return _TYPES[onnx_type]


def _numpy_dtype(dtype: torch.dtype):
    return {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64}[dtype]
