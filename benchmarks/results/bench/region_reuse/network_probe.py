"""Reuse on vs off through FrameUpscaler.upscale_yuv420 on a clip: exactness and net time."""
import sys
import time

import av
import numpy as np

from srstream.engine.models import resolve_model
from srstream.engine.backends import open_backend, Choice
from srstream.engine.upscaler import FrameUpscaler
clip, name, bk, prec, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
m = resolve_model(name); b = open_backend(m, Choice(bk, prec, "probe"))
frames = []
with av.open(clip) as c:
    for f in c.decode(video=0):
        a = f.to_ndarray(format="yuv420p"); h = f.height; w = f.width
        frames.append((a[:h].copy(), a[h:h + h // 4].reshape(h // 2, w // 2).copy(), a[h + h // 4:].reshape(h // 2, w // 2).copy()))
        if len(frames) >= n: break
res = {}
for reuse in (False, True, False, True):
    up = FrameUpscaler(b, m.spec, reuse=reuse)
    outs = []; t0 = time.perf_counter()
    for y, u, v in frames: outs.append(up.upscale_yuv420(y, u, v))
    dt = time.perf_counter() - t0
    print(f"reuse={reuse}: {len(frames)/dt:.1f} fps", up.reuse_stats.describe() if up.reuse_stats else "")
    res[reuse] = outs
diff = [int(np.abs(a.astype(int) - b_.astype(int)).max()) for a, b_ in zip(res[False], res[True])]
ne = sum(int((a != b_).sum()) for a, b_ in zip(res[False], res[True]))
print("max diff per frame max:", max(diff), "differing samples:", ne)
