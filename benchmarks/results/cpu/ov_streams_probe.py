"""Probe: OpenVINO LATENCY (1 request, 2 threads) vs THROUGHPUT (2 streams x 1 thread, 2 requests in flight)
on the backend's own graph (realtime-x2-compressed INT8 luma graph minus tail), 640x360."""
import sys
import time

import numpy as np
import openvino as ov

from srstream.engine.models import resolve_model
from srstream.engine.backends import open_backend, Choice
name = sys.argv[1] if len(sys.argv) > 1 else "realtime-x2-compressed"
m = resolve_model(name)
b = open_backend(m, Choice("ov", "int8", "probe"))
core = b.core
x = np.random.default_rng(0).random((1, 1, 360, 640), np.float32)
def compiled(cfg):
    mod = b.model.clone(); mod.reshape([1, 1, 360, 640])
    return core.compile_model(mod, "CPU", cfg)
lat = compiled({"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2})
thr = compiled({"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2})
print("thr streams", thr.get_property("NUM_STREAMS"), "lat streams", lat.get_property("NUM_STREAMS"))
r1 = lat.create_infer_request()
rs = [thr.create_infer_request() for _ in range(2)]
def run_lat(n):
    for _ in range(n): r1.infer({0: x}); _ = r1.get_output_tensor(0).data.copy()
def run_thr(n):
    q = ov.AsyncInferQueue(thr, 2)
    for i in range(n): q.start_async({0: x})
    q.wait_all()
def run_thr_manual(n):
    for i in range(0, n, 2):
        rs[0].start_async({0: x}); rs[1].start_async({0: x}); rs[0].wait(); rs[1].wait()
for f in (run_lat, run_thr, run_thr_manual): f(5)
res = {"lat": [], "thr": [], "thr2": []}
for rep in range(4):
    for k, f in (("lat", run_lat), ("thr", run_thr), ("thr2", run_thr_manual)):
        n = 40; t = time.perf_counter(); f(n); res[k].append(n / (time.perf_counter() - t))
for k, v in res.items(): print(k, " ".join(f"{a:.1f}" for a in v), "fps")
