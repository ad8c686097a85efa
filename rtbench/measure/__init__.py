"""Measurement: params, FLOPs (fvcore, cross-checked), latency, memory, environment."""
