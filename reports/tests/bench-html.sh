#!/bin/bash
# bench-html.sh MXLAB SOURCE_DIR WORK — the HTML report of a bench run
# (reports/tests/data/bench-sample.json, through "mxlab bench merge") in
# headless Chromium (Debian's chromium, from ci/bootstrap), with every
# host name unresolvable so the page must stand alone: the page's own
# check (#selfcheck) finds the three plots drawn inside their frames, and
# a screenshot shows each plot's curve in its colour. Exit 77 (skip)
# without chromium.
set -u
mxlab=$1 src=$2 work=$3
fail() { echo "bench-html.sh: $*" >&2; exit 1; }
command -v chromium >/dev/null || { echo "chromium not installed (ci/bootstrap)"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
"$mxlab" bench merge --report "$work" "$src/reports/tests/data/bench-sample.json" \
    >/dev/null || fail "mxlab bench merge failed"
page=file://$work/bench.html
chrome=(timeout 60 chromium --headless=new --no-sandbox --disable-gpu
    --host-resolver-rules="MAP * ~NOTFOUND" --window-size=900,1600
    --user-data-dir="$work/profile")
"${chrome[@]}" --dump-dom "$page" >"$work/dom.html" 2>"$work/chromium.log" ||
    fail "chromium --dump-dom failed: $(tail -3 "$work/chromium.log")"
grep -q '<p id="selfcheck">ok: 3 plots</p>' "$work/dom.html" ||
    fail "the page's check: $(grep -o '<p id="selfcheck">[^<]*' "$work/dom.html")"
"${chrome[@]}" --screenshot="$work/shot.png" "$page" >>"$work/chromium.log" 2>&1 ||
    fail "chromium --screenshot failed"
# Pixels of each curve's colour (bench_html.c's CSS) in the screenshot.
/usr/bin/python3 - "$work/shot.png" <<'PY' || fail "a plot is missing from the screenshot"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, i = bytearray(stride), [], 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
colours = {"rate": (0x15, 0x65, 0xc0), "latency": (0xc6, 0x28, 0x28),
           "e2e": (0x6a, 0x1b, 0x9a), "queue": (0x2e, 0x7d, 0x32)}
count = dict.fromkeys(colours, 0)
for row in rows:
    for x in range(0, stride, bpp):
        px = tuple(row[x:x + 3])
        for k, c in colours.items():
            if px == c:
                count[k] += 1
print("curve pixels:", count)
assert all(n >= 100 for n in count.values()), count
PY
echo "bench-html.sh: ok"
