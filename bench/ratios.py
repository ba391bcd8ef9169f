#!/usr/bin/env python3
"""Prints bench/run.sh's results table: criterion's estimates plus the webhook runs, as ratios.

usage: ratios.py CRITERION_DIR OUT_DIR
  CRITERION_DIR  target/criterion (one group per corpus, one function per engine/reader)
  OUT_DIR        bench/out, holding webhook-*.json written by kaudit-loadgen
"""
import json
import os
import sys

FUNCS = ["serde_json_validate", "sonic_rs_validate", "kaudit_parse", "interpreter", "compiled"]


def load_criterion(root):
    """{group: {function: (events_per_s, bytes_per_s)}} from each benchmark's latest estimates."""
    out = {}
    if not os.path.isdir(root):
        return out
    for group in sorted(os.listdir(root)):
        for func in FUNCS:
            d = os.path.join(root, group, func, "new")
            try:
                with open(os.path.join(d, "estimates.json")) as f:
                    ns = json.load(f)["median"]["point_estimate"]
                with open(os.path.join(d, "benchmark.json")) as f:
                    tp = json.load(f).get("throughput") or {}
            except (OSError, ValueError, KeyError):
                continue
            tp = tp.get("ElementsAndBytes") or {}
            if not tp or ns <= 0:
                continue
            secs = ns / 1e9
            out.setdefault(group, {})[func] = (tp["elements"] / secs, tp["bytes"] / secs)
    return out


def load_webhook(out_dir):
    runs = {}
    for name in sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []:
        if name.startswith("webhook-") and name.endswith(".json"):
            try:
                with open(os.path.join(out_dir, name)) as f:
                    runs[name[len("webhook-"):-len(".json")]] = json.load(f)
            except (OSError, ValueError):
                pass
    return runs


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def main():
    crit = load_criterion(sys.argv[1])
    hooks = load_webhook(sys.argv[2])
    print("## Engine throughput (single thread, events/s | MB/s)\n")
    print("| corpus | " + " | ".join(FUNCS) + " |")
    print("|---|" + "---|" * len(FUNCS))
    for group, funcs in crit.items():
        cells = []
        for f in FUNCS:
            v = funcs.get(f)
            cells.append(f"{v[0]:,.0f} / {v[1] / 1e6:,.0f}" if v else "-")
        print(f"| {group} | " + " | ".join(cells) + " |")

    print("\n## Ratios\n")
    print("| corpus | compiled / serde_json-validate | compiled / sonic-rs-validate | compiled / interpreter | interpreter / serde_json-validate |")
    print("|---|---|---|---|---|")
    for group, funcs in crit.items():
        ev = {f: v[0] for f, v in funcs.items()}
        print(
            f"| {group} | {ratio(ev.get('compiled'), ev.get('serde_json_validate'))} "
            f"| {ratio(ev.get('compiled'), ev.get('sonic_rs_validate'))} "
            f"| {ratio(ev.get('compiled'), ev.get('interpreter'))} "
            f"| {ratio(ev.get('interpreter'), ev.get('serde_json_validate'))} |"
        )

    sizes = [(g, f) for g, f in crit.items() if g.startswith("size_") and f.get("serde_json_validate")]
    if sizes:
        print("\n## Scaling (one event shape grown with members no rule reads; ns per event)\n")
        print("| corpus | B/event | serde_json-validate | kaudit_parse | compiled | interpreter | compiled / serde_json-validate |")
        print("|---|---|---|---|---|---|---|")
        sizes.sort(key=lambda gf: gf[1]["serde_json_validate"][1] / gf[1]["serde_json_validate"][0])
        for group, funcs in sizes:
            ev_s, b_s = funcs["serde_json_validate"]
            ns = lambda f: f"{1e9 / funcs[f][0]:,.0f}" if funcs.get(f) else "-"
            rel = ratio(funcs.get("compiled", (0,))[0], ev_s)
            print(f"| {group} | {b_s / ev_s:,.0f} | {ns('serde_json_validate')} | {ns('kaudit_parse')} | {ns('compiled')} | {ns('interpreter')} | {rel} |")

    if hooks:
        mixed = crit.get("mixed", {})
        engine = (mixed.get("compiled") or mixed.get("interpreter") or (None,))[0]
        engine_name = "compiled" if mixed.get("compiled") else "interpreter"
        print(f"\n## Webhook (mixed corpus, EventList batches; engine = single-thread {engine_name} on the same corpus)\n")
        print("| run | accepted events/s | end-to-end events/s | MB/s | p50 ms | p99 ms | 503s | peak RSS MiB | events per server CPU-s | webhook / engine | webhook / bare hyper |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, r in hooks.items():
            e2e = r.get("events_per_sec_e2e") or r["events_per_sec"]
            rss = (r.get("server_peak_rss_kib") or 0) / 1024
            if name.startswith("bare"):
                rel_engine, rel_bare, label = "", "", f"{name} (transport limit)"
            else:
                suffix = name.split("-", 1)[1] if "-" in name else ""
                bare = hooks.get("bare-" + suffix) or hooks.get("bare")
                bare_rate = bare and (bare.get("events_per_sec_e2e") or bare["events_per_sec"])
                rel_engine, rel_bare, label = ratio(e2e, engine), ratio(e2e, bare_rate), name
            print(
                f"| {label} | {r['events_per_sec']:,.0f} | {e2e:,.0f} | {r['mb_per_sec']:,.1f} | {r['p50_ms']:.2f} "
                f"| {r['p99_ms']:.2f} | {r.get('busy_503', 0)} | {rss:.1f} | {r.get('events_per_server_cpu_sec') or 0:,.0f} "
                f"| {rel_engine} | {rel_bare} |"
            )


if __name__ == "__main__":
    main()
