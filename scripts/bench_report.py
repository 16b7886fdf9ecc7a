#!/usr/bin/env python3
"""Summarise criterion results of `cargo bench -p confd --bench load`.

Reads target/criterion/*/*/new/estimates.json and prints, for each group, a
Markdown table of medians and of each entry's ratio to the group's floor,
then writes the load-time-against-keys plot (an SVG, no plotting library
needed) to the path given with --plot.

    python3 scripts/bench_report.py [--criterion target/criterion] [--plot docs/load-vs-keys.svg]
"""
import argparse
import json
import pathlib

GROUPS = [
    ("cold_load_typed_50_keys", "floor_read_parse"),
    ("repeated_load_unchanged", "floor_stat_files"),
    ("boot_100_bricks", "floor_read_parse"),
]
PEERS = ["confd", "figment", "config-rs", "floor"]
COLOURS = {"confd": "#1b7837", "figment": "#2166ac", "config-rs": "#b2182b", "floor": "#555555"}


def median_ns(path):
    data = json.loads(path.read_text())
    return data["median"]["point_estimate"]


def human(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def tables(root):
    out = []
    for group, floor in GROUPS:
        base = root / group
        if not base.is_dir():
            continue
        rows = {p.parent.parent.name: median_ns(p) for p in base.glob("*/new/estimates.json")}
        if floor not in rows:
            continue
        out.append(f"**{group}** (median; ratio to `{floor}`)\n")
        out.append("| | median | ratio |")
        out.append("|---|---|---|")
        for name, ns in sorted(rows.items(), key=lambda kv: kv[1]):
            out.append(f"| {name} | {human(ns)} | {ns / rows[floor]:.2f}× |")
        out.append("")
    return "\n".join(out)


def sweep(root):
    base = root / "keys_sweep"
    series = {}
    for peer in PEERS:
        points = []
        for p in (base / peer).glob("*/new/estimates.json"):
            points.append((int(p.parent.parent.name), median_ns(p)))
        if points:
            series[peer] = sorted(points)
    return series


def sweep_table(series):
    keys = sorted({k for points in series.values() for k, _ in points})
    lines = ["| keys | " + " | ".join(series) + " | confd / floor |", "|---" * (len(series) + 2) + "|"]
    for k in keys:
        cells = {peer: dict(points).get(k) for peer, points in series.items()}
        ratio = cells.get("confd") / cells["floor"] if cells.get("confd") and cells.get("floor") else None
        lines.append(
            f"| {k} | "
            + " | ".join(human(v) if v else "" for v in cells.values())
            + f" | {ratio:.2f}× |" if ratio else " |"
        )
    return "\n".join(lines)


def svg(series, path):
    width, height, margin = 640, 400, 60
    xs = [k for points in series.values() for k, _ in points]
    ys = [v / 1e3 for points in series.values() for _, v in points]
    xmax, ymax = max(xs), max(ys) * 1.05

    def x(k):
        return margin + (width - 2 * margin) * k / xmax

    def y(v):
        return height - margin - (height - 2 * margin) * v / ymax

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">Cold load (defaults + main file + 3 drop-ins + 2 env + 1 --set, typed) against keys</text>',
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="black"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="black"/>',
        f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">keys in the brick</text>',
        f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" text-anchor="middle">median time (µs)</text>',
    ]
    for i in range(6):
        v = ymax * i / 5
        parts.append(f'<text x="{margin - 5}" y="{y(v) + 4}" text-anchor="end">{v:.0f}</text>')
        parts.append(f'<line x1="{margin}" y1="{y(v)}" x2="{width - margin}" y2="{y(v)}" stroke="#eee"/>')
    for k in sorted(set(xs)):
        parts.append(f'<text x="{x(k)}" y="{height - margin + 15}" text-anchor="middle">{k}</text>')
    for i, (peer, points) in enumerate(series.items()):
        colour = COLOURS.get(peer, "black")
        coords = " ".join(f"{x(k):.1f},{y(v / 1e3):.1f}" for k, v in points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for k, v in points:
            parts.append(f'<circle cx="{x(k):.1f}" cy="{y(v / 1e3):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<rect x="{margin + 10}" y="{margin + i * 18}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{margin + 28}" y="{margin + i * 18 + 11}">{peer}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--criterion", default="target/criterion", type=pathlib.Path)
    parser.add_argument("--plot", type=pathlib.Path)
    args = parser.parse_args()
    print(tables(args.criterion))
    series = sweep(args.criterion)
    if series:
        print("**keys_sweep** (median)\n")
        print(sweep_table(series))
        if args.plot:
            args.plot.parent.mkdir(parents=True, exist_ok=True)
            svg(series, args.plot)
            print(f"\nplot written to {args.plot}")


if __name__ == "__main__":
    main()
