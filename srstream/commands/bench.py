"""``sr-stream bench``: quality and speed benchmarks (implemented in ``benchmarks/``)."""

from srstream.commands._pending import pending

COMMAND = pending("the benchmark suite (sr-stream bench)",
                  "Measure quality (PSNR/SSIM) and speed (latency, fps) against bicubic and peers.")
