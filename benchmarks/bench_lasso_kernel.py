"""The million-point lasso's kernel side, part by part (no browser): the exact test (lasso.inside), the selection's
picture from the kept counts (bigmap.highlight) against rendering every point again (bigmap.render, the picture's
old path, equal pixel for pixel), and what encoding the 400 x 360 picture would cost against the raw RGBA bokeh sends.

Points and lassos as bench_bigmap.py's (10 Gaussian clusters; circles of 40-56 screen pixels), interleaved rounds,
medians in ms. Run: PYTHONPATH=. python benchmarks/bench_lasso_kernel.py [--points 1000000] [--rounds 7]
"""
import argparse
import io
import statistics
import time

import numpy as np

from explorer.codes import bigmap, lasso


def timed(f, *args, **kw):
    t = time.perf_counter()
    out = f(*args, **kw)
    return (time.perf_counter() - t) * 1e3, out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    label = rng.integers(0, 10, args.points)
    xy = rng.normal(0, 4, (10, 2))[label] + rng.normal(0, 1, (args.points, 2))
    palette = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rng.integers(0, 256, (10, 3))]
    (x0, x1), (y0, y1) = ranges = bigmap.extent(xy)
    w, h = 400, 360
    agg = bigmap.counts(xy, label, 10, *ranges, w, h)
    pix = bigmap.pixels(xy, *ranges, w, h)
    base, keyed = bigmap.greyed(agg), pix * 10 + label.astype(np.int32)
    rows = {k: [] for k in ("lasso.inside", "highlight (kept counts)", "render (all points again)", "equal")}
    for _ in range(args.rounds):
        for i in range(4):
            cx, cy, rad = x0 + (x1 - x0) * (0.35 + 0.1 * i), (y0 + y1) / 2, (x1 - x0) * (40 + 8 * (i % 3)) / w
            a = np.arange(25) * np.pi / 12
            xs, ys = cx + rad * np.cos(a), cy + rad * np.sin(a)
            ms, mask = timed(lasso.inside, xy, xs, ys)
            rows["lasso.inside"].append(ms)
            ms, new = timed(bigmap.highlight, base, keyed[mask], palette)
            rows["highlight (kept counts)"].append(ms)
            codes = np.where(mask, label, 10)
            ms, old = timed(bigmap.render, xy, codes, [*palette, bigmap.GREY], *ranges, w, h)
            rows["render (all points again)"].append(ms)
            rows["equal"].append(float(np.array_equal(new, old)))
    print(f"| {args.points:,} points, {args.rounds} x 4 lassos | median ms | min | max |\n|---|---|---|---|")
    for k, v in rows.items():
        if k != "equal":
            print(f"| {k} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} |")
    print(f"\nhighlight equal to render on every lasso: {all(rows['equal'])}")
    from PIL import Image

    img = Image.fromarray(new.view(np.uint8).reshape(h, w, 4), "RGBA")
    print(f"\n| picture {w} x {h} | encode ms (median of {args.rounds}) | bytes |\n|---|---|---|")
    print(f"| raw RGBA (bokeh's binary buffer, as sent) | 0 | {new.nbytes:,} |")
    for fmt, kw in (("PNG", {"compress_level": 1}), ("PNG", {}), ("WEBP", {"lossless": True}), ("WEBP", {}),
                    ("JPEG", {})):
        pic = img.convert("RGB") if fmt == "JPEG" else img
        times, size = [], 0
        for _r in range(args.rounds):
            buf = io.BytesIO()
            ms, _ = timed(pic.save, buf, fmt, **kw)
            times.append(ms)
            size = buf.tell()
        print(f"| {fmt} {kw or 'default'}{' (no alpha)' if fmt == 'JPEG' else ''} | {statistics.median(times):.1f} "
              f"| {size:,} |")


if __name__ == "__main__":
    main()
