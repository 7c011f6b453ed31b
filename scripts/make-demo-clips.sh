#!/usr/bin/env bash
# Regenerate the demo player's ad clip, src/fairview/web/static/demo-ad.webm.
#
# A 10 s, 320x240, 25 fps VP8/Opus WebM (~250 KB): ffmpeg's testsrc2 pattern with a
# "fairview demo ad" banner and a countdown, over a quiet 440 Hz tone. fairview serves
# it itself (/static/demo-ad.webm), so the demo page plays it under its strict CSP
# (media-src 'self'). Uses the ffmpeg bundled with imageio-ffmpeg (a dev dependency).
#
#   scripts/make-demo-clips.sh            # run from the repository root
set -euo pipefail

cd "$(dirname "$0")/.."
FFMPEG="${FFMPEG:-$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')}"
SECONDS_LONG=10
OUT=src/fairview/web/static/demo-ad.webm

BANNER="drawtext=text='fairview demo ad':fontcolor=white:fontsize=26:box=1:boxcolor=black@0.75:boxborderw=8:x=(w-text_w)/2:y=18"
COUNTDOWN="drawtext=text='ad ends in %{eif\:ceil(${SECONDS_LONG}-t)\:d} s':fontcolor=white:fontsize=20:box=1:boxcolor=black@0.75:boxborderw=6:x=(w-text_w)/2:y=h-text_h-18"

"$FFMPEG" -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x240:rate=25:duration=${SECONDS_LONG}" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=${SECONDS_LONG}" \
  -vf "${BANNER},${COUNTDOWN}" -af "volume=0.15" \
  -c:v libvpx -b:v 160k -deadline good -cpu-used 4 -g 50 \
  -c:a libopus -b:a 24k \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  "$OUT"
ls -l "$OUT"
