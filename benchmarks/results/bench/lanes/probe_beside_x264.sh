# From the repository root, in its environment (sr-stream[openvino] installed); the shared data beside it.
for i in 1 2; do
  echo "== alone, run $i"; timeout 200 python benchmarks/results/cpu/ov_streams_probe.py realtime-x2-compressed 2>&1 | tail -3
  ffmpeg -loglevel error -re -stream_loop -1 -i ../shared/data/video/traffic_360p30_audio.mp4 -an -vf "scale=1280:720:flags=lanczos,setpts=30/17*PTS" -t 300 -c:v libx264 -preset veryfast -crf 16 -f null - &
  FF=$!; sleep 3
  echo "== beside x264 (traffic at 1280x720, veryfast CRF 16, 17 fps), run $i"; timeout 200 python benchmarks/results/cpu/ov_streams_probe.py realtime-x2-compressed 2>&1 | tail -3
  kill $FF; wait $FF 2>/dev/null; sleep 2
done
