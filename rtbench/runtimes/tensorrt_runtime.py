"""TensorRT: an engine built from the exported ONNX graph, timed with CUDA events on the engine's
own stream, inputs and outputs already on the GPU; the paper's protocol with --dtype fp16 (Table
3: TensorRT FP16 on a T4, I/O and copies excluded, as trtexec's "GPU Compute Time").

Written against the TensorRT 10 Python API: `create_network(0)`, `OnnxParser.parse_from_file`,
`BuilderFlag.FP16`, `build_serialized_network`, `set_tensor_address`, `execute_async_v3`.
TensorRT 11 dropped the FP16 builder flag (its networks are strongly typed): there the fp16 engine
is built from a graph exported in fp16. Engines are cached by the ONNX file's hash, the TensorRT
version, the GPU and the build flags: an engine is valid only for the GPU model and TensorRT
version it was built for.

`tensorrt-graphs` replays the enqueue as a captured CUDA graph, as `trtexec --useCudaGraph` does:
one enqueue first so that lazy initialisation is not captured.

This module has not been run by the project: TensorRT does not install on its machines (README).
"""

from pathlib import Path

import torch

from rtbench.config import RunConfig
from rtbench.digest import content_key, file_key
from rtbench.files import write_atomic
from rtbench.runtimes.base import BuiltModel, Session
from rtbench.runtimes.exported import ExportedRuntime

WORKSPACE_BYTES = 4 << 30


class TensorRT(ExportedRuntime):
    name = "tensorrt"
    pool = "tensorrt"
    label = "TensorRT"
    devices = ("cuda",)
    modules = ("onnx", "tensorrt")
    extra = "tensorrt"
    graphs = False  # replay a captured CUDA graph of the enqueue

    def version(self) -> str:
        import tensorrt

        return tensorrt.__version__

    def unavailable(self, device: torch.device, cfg: RunConfig) -> str | None:
        reason = super().unavailable(device, cfg)
        if reason is None and cfg.dtype == "bf16":
            return "runtime tensorrt: use --dtype fp16 (the paper's protocol) or fp32"
        return reason

    def wants_half(self, built: BuiltModel) -> bool:
        import tensorrt as trt

        # TensorRT 11 takes its precision from the graph; 10 from the FP16 flag on an fp32 graph.
        return built.cfg.dtype == "fp16" and not hasattr(trt.BuilderFlag, "FP16")

    def session(self, onnx_path: Path, built: BuiltModel):
        import tensorrt as trt

        device = built.device
        fp16 = built.cfg.dtype == "fp16" and hasattr(trt.BuilderFlag, "FP16")
        with torch.cuda.device(device):
            plan, cached, engine_path = _cached_engine(trt, onnx_path, built.cache_dir / "tensorrt",
                                                       fp16)  # fmt: skip
            free_before, _ = torch.cuda.mem_get_info(device)
            logger = trt.Logger(trt.Logger.ERROR)
            engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
            if engine is None:
                raise RuntimeError("TensorRT could not load the engine (built for another GPU?)")
            context = engine.create_execution_context()
            buffers = _bind(trt, engine, context, built, device)
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))

            def enqueue():
                if not context.execute_async_v3(stream.cuda_stream):
                    raise RuntimeError("TensorRT could not enqueue the engine")

            enqueue()
            stream.synchronize()
            used = free_before - torch.cuda.mem_get_info(device)[0]
            step = self._graph(enqueue, stream) if self.graphs else enqueue

        names = [n for n in buffers if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        first_input = next(n for n in buffers if n not in names)

        def outputs():
            step()
            stream.synchronize()
            return [buffers[n] for n in names]

        def infer(image):  # a new image, copied into the bound input: the end-to-end path
            buffers[first_input].copy_(image)
            stream.wait_stream(torch.cuda.current_stream(device))  # the copy, then the engine
            return outputs()

        from rtbench.measure.timing import cuda_event_clock

        settings = {
            "fp16": built.cfg.dtype == "fp16",
            "builder_flag_fp16": fp16,
            "cuda_graph": self.graphs,
            "engine_cached": cached,
            "engine_path": str(engine_path),  # for trtexec --loadEngine (gpu_check.sh)
            "engine_bytes": len(plan),
            "activation_memory_bytes": _activation_memory(engine),
            "gpu": torch.cuda.get_device_name(device),
        }
        # The device memory the engine and its context took (TensorRT allocates outside torch).
        session = Session(step, cuda_event_clock(device, stream), lambda: used, settings,
                          infer=infer)  # fmt: skip
        session.keep = (engine, context, buffers)  # the graph and the bindings point into these
        return session, outputs

    @staticmethod
    def _graph(enqueue, stream: "torch.cuda.Stream"):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            enqueue()

        def replay():
            with torch.cuda.stream(stream):
                graph.replay()

        return replay


class TensorRTGraphs(TensorRT):
    name = "tensorrt-graphs"
    label = "TensorRT, CUDA graph replay"
    graphs = True


def engine_key(trt, onnx_path: Path, device: torch.device, fp16: bool) -> str:
    """Everything an engine depends on: the graph, TensorRT, the GPU, the build flags."""
    facts = {
        "onnx_sha256": file_key(onnx_path),
        "tensorrt": trt.__version__,
        "gpu": torch.cuda.get_device_name(device),
        "capability": list(torch.cuda.get_device_capability(device)),
        "cuda": torch.version.cuda,
        "fp16": fp16,
        "tf32": True,  # TensorRT's default, kept
        "workspace": WORKSPACE_BYTES,
    }
    return content_key(facts)


def _cached_engine(trt, onnx_path: Path, cache_dir: Path, fp16: bool) -> tuple[bytes, bool, Path]:
    device = torch.device("cuda", torch.cuda.current_device())
    path = cache_dir / f"{onnx_path.stem}-{engine_key(trt, onnx_path, device, fp16)[:16]}.plan"
    if path.is_file():
        return path.read_bytes(), True, path
    plan = _build(trt, onnx_path, fp16)
    write_atomic(path, plan)
    return plan, False, path


def _build(trt, onnx_path: Path, fp16: bool) -> bytes:
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    # TensorRT 8.x needs explicit batch asked for; 10 ignores the flag and 11 removed it.
    flags = 1 << int(explicit) if explicit is not None and trt.__version__.startswith("8.") else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT could not build an engine from the graph")
    return bytes(plan)


def _bind(trt, engine, context, built: BuiltModel, device: torch.device) -> dict:
    """A torch tensor per I/O tensor of the engine, its address given to the context; inputs
    are the run's inputs, cast to the engine's input type."""
    inputs = built.inputs if isinstance(built.inputs, list) else [built.inputs]
    types = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
             trt.DataType.INT32: torch.int32, trt.DataType.INT64: torch.int64}  # fmt: skip
    buffers, fed = {}, iter(inputs)
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dtype = types[engine.get_tensor_dtype(name)]
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            tensor = next(fed).to(device=device, dtype=dtype).contiguous()
        else:
            tensor = torch.empty(tuple(engine.get_tensor_shape(name)), dtype=dtype, device=device)
        buffers[name] = tensor
        context.set_tensor_address(name, tensor.data_ptr())
    return buffers


def _activation_memory(engine) -> int | None:
    size = getattr(engine, "device_memory_size_v2", None)
    return size if size is not None else getattr(engine, "device_memory_size", None)
