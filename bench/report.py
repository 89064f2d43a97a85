"""The short table `make bench` prints and the README's Performance section shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _verdict(value: float | None, target: float, *, at_least: bool) -> str:
    if value is None:
        return "n/a"
    met = value >= target if at_least else value <= target
    return "met" if met else "MISSED"


def _cpu(target: Mapping[str, Any]) -> str:
    server = target.get("server_cpu_us_per_request")
    database = target.get("postgres_cpu_us_per_request")
    if server is None or database is None:
        return "n/a"
    return f"{server:.0f} + {database:.0f}"


def b1_table(b1: Mapping[str, Any]) -> list[str]:
    lines = [
        "| B1 target | req/s | p50 ms | p99 ms | max ms | errors | cert downloads | "
        "CPU µs/request: server + PostgreSQL |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        "real": f"real `POST {b1['setup']['paths']['real']}` (verify, claim, no-op job, finish)",
        "floor_b": "floor (b): parse + one INSERT ... ON CONFLICT DO NOTHING, commit",
        "floor_a": "floor (a): parse, 200",
    }
    for key, label in labels.items():
        t = b1["targets"][key]
        lines.append(
            f"| {label} | {t['rps']:.0f} | {t['p50_ms']:.1f} | {t['p99_ms']:.1f} | "
            f"{t['max_ms']:.1f} | {t['errors']} | {t['certificate_downloads']} | {_cpu(t)} |"
        )
    r = b1["ratios"]
    lines.append("")
    lines.append(
        f"real ÷ (b) = {r['real_over_floor_b']:.2f} (target ≥ {r['target_real_over_floor_b']}: "
        f"{_verdict(r['real_over_floor_b'], r['target_real_over_floor_b'], at_least=True)}); "
        f"real ÷ (a) = {r['real_over_floor_a']:.2f}"
    )
    cpu = b1.get("cpu", {}).get("floor_b_over_real_both")
    if cpu is not None:
        lines.append(f"CPU per request, floor (b) ÷ real (server and PostgreSQL) = {cpu:.2f}")
    v = b1.get("verification")
    if not v:
        return lines
    line = f"verification alone, median per message: bookapp {v['bookapp']['median_us']:.1f} µs"
    if v.get("floor"):
        line += (
            f", floor {v['floor']['median_us']:.1f} µs; bookapp ÷ floor = "
            f"{v['bookapp_over_floor']:.2f} (target ≤ {v['target_bookapp_over_floor']}: "
            f"{_verdict(v['bookapp_over_floor'], v['target_bookapp_over_floor'], at_least=False)})"
        )
    lines.append(line)
    if v.get("third_party"):
        lines.append(
            f"{v['third_party']['name']}: {v['third_party']['median_us']:.1f} µs, ÷ floor = "
            f"{v['third_party_over_floor']:.2f}, ÷ bookapp = "
            f"{v['ratio_third_party_over_bookapp']:.2f}"
        )
    return lines


def b2_table(b2: Mapping[str, Any]) -> list[str]:
    lines = [
        "| B2 function | cold start median (min-max) ms | floor median (min-max) ms | ratio | "
        "package |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, f in b2["functions"].items():
        c, fl = f["cold_start_s"], f["floor_s"]
        verdict = _verdict(f["ratio_median"], f.get("target_ratio", 1.15), at_least=False)
        lines.append(
            f"| {name} | {c['median'] * 1000:.0f} ({c['min'] * 1000:.0f}-{c['max'] * 1000:.0f}) | "
            f"{fl['median'] * 1000:.0f} ({fl['min'] * 1000:.0f}-{fl['max'] * 1000:.0f}) | "
            f"{f['ratio_median']:.2f} ({verdict}) | "
            f"{f['package']['disk_bytes'] // 1024} KiB |"
        )
    return lines


def table(result: Mapping[str, Any]) -> str:
    m = result["machine"]
    memory = m["memory_bytes"] / 2**30 if m.get("memory_bytes") else 0
    lines = [
        f"{result['kind']} run {result['started_at']} on {m['cpu_model']}, {m['cores']} cores, "
        f"{memory:.0f} GiB, {m['kernel']}, Python {m['python']}",
        "",
    ]
    if result.get("b1"):
        lines += [*b1_table(result["b1"]), ""]
    if result.get("b2"):
        lines += b2_table(result["b2"])
    return "\n".join(lines).rstrip()
