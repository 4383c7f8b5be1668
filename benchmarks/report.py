"""The printed table: each figure, its ceiling from the same run, the ratio and the target."""

from __future__ import annotations

Row = tuple[str, str, str, str, str, str]


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def _ingest_rows(ingest: dict) -> list[Row]:
    ceiling = ingest["ceiling"]
    rows: list[Row] = [
        (
            "HTTP ceiling: bare Litestar 202",
            f"{_num(ceiling['ok_rps'], ' rps')} (p50 {ceiling['p50_ms']:.1f} / "
            f"p99 {ceiling['p99_ms']:.1f} ms)",
            "", "", "", "",
        )
    ]  # fmt: skip
    # The targets: 80 % of the ceiling with no route, 60 % routed and delivering.
    for key, label, target in (
        ("no_route", "no route", 0.8),
        ("route", "routed, delivering", 0.6),
    ):
        figure = ingest[key]
        rows.append(
            (
                f"Ingest 1 KB, 64 conns, {label}",
                f"{_num(figure['ok_rps'], ' rps')} (p50 {figure['p50_ms']:.1f} / "
                f"p99 {figure['p99_ms']:.1f} ms)",
                _num(ceiling["ok_rps"], " rps"),
                f"{figure['ratio']:.0%} {figure['ratios']}",
                f">= {target:.0%}".replace("%", " %"),
                _verdict(figure["ratio"] >= target),
            )
        )
    durable = ingest["no_route"]["durable"] and ingest["route"]["durable"]
    rows.append(("Every 202 has its committed event", "yes" if durable else "NO", "", "", "",
                 _verdict(durable)))  # fmt: skip
    return rows


def _delivery_rows(delivery: dict) -> list[Row]:
    ceiling = delivery["ceiling"]["ok_rps"]
    attempts = delivery["attempts_by_outcome"]
    complete = (
        delivery["drained"]
        and delivery["missing_in_db"] == 0
        and attempts.get("success", 0) >= delivery["events"]
        and delivery["events_delivered"] == delivery["events"]
    )
    latency = delivery["latency"]
    arrival = latency["ingest_to_arrival"]
    pickup = latency["ingest_to_attempt_start"]
    return [
        ("Delivery ceiling: aiohttp -> receiver, 32 conns", _num(ceiling, "/s"),
         "", "", "", ""),
        (f"Delivery of {delivery['events']:,} queued (recorded)",
         _num(delivery["recorded_per_s"], "/s") + f" (arrivals {delivery['arrival_per_s']:,.0f}/s)",
         _num(ceiling, "/s"), f"{delivery['ratio']:.0%}", ">= 50 %",
         _verdict(delivery["ratio"] >= 0.5)),
        ("Every event delivered, every attempt recorded",
         f"{attempts} delivered={delivery['events_delivered']}", "", "", "", _verdict(complete)),
        ("Idle: ingest -> arrival p50", _num(arrival["p50_ms"], " ms", 2), "", "", "< 5 ms",
         _verdict(arrival["p50_ms"] is not None and arrival["p50_ms"] < 5)),
        ("Idle: ingest -> arrival p99", _num(arrival["p99_ms"], " ms", 2), "", "", "< 25 ms",
         _verdict(arrival["p99_ms"] is not None and arrival["p99_ms"] < 25)),
        ("Idle: ingest -> attempt start p50 / p99",
         f"{_num(pickup['p50_ms'], ' ms', 2)} / {_num(pickup['p99_ms'], ' ms', 2)}",
         "", "", "", ""),
    ]  # fmt: skip


def _mixed_rows(mixed: dict) -> list[Row]:
    tried = ", ".join(f"{s['rate']}{'+' if s['sustained'] else 'x'}" for s in mixed["steps"])
    best = mixed["best"]
    rows: list[Row] = [
        ("Mixed: highest sustained ingest rate", _num(mixed["best_rate"], " ev/s"), "",
         f"tried {tried}", ">= 2,000/s", _verdict(mixed["best_rate"] >= 2000)),
    ]  # fmt: skip
    if best:
        arrival = best["ingest_to_arrival"]
        rows.append(
            (f"Mixed at {best['rate']}/s: ingest -> arrival p50 / p99",
             f"{_num(arrival['p50_ms'], ' ms', 1)} / {_num(arrival['p99_ms'], ' ms', 1)}",
             "", "", "", "")
        )  # fmt: skip
    return rows


def _scale_rows(scale: dict) -> list[Row]:
    events = scale["events"]
    label = f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"
    after = scale["memory_kb_after"]["big"]
    rss_mb = after["VmRSS"] / 1024
    peak_mb = after["VmHWM"] / 1024
    rows: list[Row] = [
        (f"{label} events: server RSS (peak)", f"{rss_mb:.0f} MB ({peak_mb:.0f} MB)",
         f"empty {scale['memory_kb_after']['empty']['VmRSS'] / 1024:.0f} MB", "", "< 150 MB",
         _verdict(peak_mb < 150)),
    ]  # fmt: skip
    names = {
        "events_first_page": "GET /v1/events first page",
        "events_filtered": "GET /v1/events status+source",
        "events_filtered_rare": "GET /v1/events rare status+source",
        "stats": "GET /v1/stats",
    }
    for key, name in names.items():
        big = scale["queries"][key]["big"]
        empty = scale["queries"][key]["empty"]
        if big["status"] == 404:
            rows.append((f"{label} events: {name}", "404: not built yet", "", "", "< 50 ms",
                         "n/a"))  # fmt: skip
            continue
        rows.append(
            (f"{label} events: {name} p50 (max)",
             f"{big['p50_ms']:.1f} ms ({big['max_ms']:.0f}) [{big['status']}]",
             f"empty {empty['p50_ms']:.1f} ms", "", "p50 < 50 ms", _verdict(big["p50_ms"] < 50))
        )  # fmt: skip
    ingest = scale["ingest"]
    rows.append(
        (f"{label} events: ingest vs empty DB", _num(ingest["big_ok_rps"], " rps"),
         _num(ingest["empty_ok_rps"], " rps"), f"{ingest['ratio']:.0%} {ingest['ratios']}",
         ">= 90 %", _verdict(ingest["ratio"] >= 0.9))
    )  # fmt: skip
    return rows


def _ms(value: float | None) -> str:
    return _num(value, " ms", 1)


def _fanout_rows(fanout: dict, results: dict) -> list[Row]:
    ingest = fanout["ingest"]
    arrival = fanout["arrival"]
    delivery = results.get("delivery")
    reference = (_num(delivery["recorded_per_s"], "/s") + " (1 dest.)") if delivery else ""
    checks = fanout["checks"]
    return [
        (f"Fan-out x{fanout['destinations']}: {fanout['events']:,} events, deliveries",
         f"{_num(fanout['deliveries_per_s'], '/s')} (backlog peak {fanout['backlog_peak']:,})",
         reference, "", "-", ""),
        ("Fan-out: ingest p50 / p99 meanwhile",
         f"{_ms(ingest['p50_ms'])} / {_ms(ingest['p99_ms'])} at {ingest['ok_rps']:,.0f}/s",
         "", "", "-", ""),
        ("Fan-out: ingest -> arrival p50 / p99",
         f"{_ms(arrival['p50_ms'])} / {_ms(arrival['p99_ms'])}", "", "", "-", ""),
        ("Fan-out: every delivery recorded success",
         f"{checks['success_attempts']:,} of {fanout['expected_deliveries']:,}", "", "", "all",
         _verdict(fanout["complete"])),
    ]  # fmt: skip


def _storm_rows(storm: dict, results: dict) -> list[Row]:
    steady = storm["steady_ingest"]
    timing = storm["timing"]
    delivery = results.get("delivery")
    reference = _num(delivery["ceiling"]["ok_rps"], "/s") + " ceiling" if delivery else ""
    coverage = f"{timing['coverage']:.0%}" if timing["coverage"] is not None else "-"
    return [
        (f"Retry storm: drain of {storm['deliveries']:,} failed deliveries",
         f"{_num(storm['drain_per_s'], '/s')} ({storm['drain_seconds']:.1f} s, "
         f"{storm['failed_attempts_while_down']:,} 503s before)", reference, "", "-", ""),
        (f"Retry storm: ingest p99 during the drain ({storm['steady_rate']}/s)",
         f"{_ms(steady['p99_ms'])} (p50 {_ms(steady['p50_ms'])}, {steady['ok_rps']:,.0f}/s)",
         "", "", "< 50 ms", _verdict(steady["p99_ms"] is not None and steady["p99_ms"] < 50)),
        ("Retry storm: no retry before its due time",
         f"{timing['early_vs_due']} early of {timing['retries']:,} retries "
         f"(sampled due {coverage}; policy wait: {timing['early_vs_policy_wait']} early; "
         f"start - due p50 {_ms(timing['start_after_due']['p50_ms'])})",
         "", "", "0", _verdict(storm["no_early_retry"])),
        ("Retry storm: none stranded, all delivered",
         f"stranded {storm['stranded']}, {storm['deliveries_by_status']}", "", "", "0",
         _verdict(storm["complete"])),
    ]  # fmt: skip


def _bad_endpoint_rows(bad: dict) -> list[Row]:
    p99, p50 = bad["healthy_p99_ms"], bad["healthy_p50_ms"]
    ratio = bad["p99_ratio"]
    return [
        (f"Bad endpoint: 9 healthy beside 1 hanging ({bad['rate']} ev/s x10), p99",
         f"{_ms(p99['one_bad'])} (p50 {_ms(p50['one_bad'])})",
         f"all healthy {_ms(p99['all_healthy'])} (p50 {_ms(p50['all_healthy'])})",
         f"x{ratio} {bad['p99_ratios']}" if ratio is not None else "-", "<= 2x",
         _verdict(ratio is not None and ratio <= 2)),
        ("Bad endpoint: healthy ones all delivered, bad one timed out (or held)",
         f"bad {bad['bad_destination_attempts']}", "", "", "",
         _verdict(bad["complete"] and bad["bad_really_hung"])),
    ]  # fmt: skip


def _startup_rows(startup: dict) -> list[Row]:
    events = startup["events"]
    label = f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"
    sink = startup["sink_median"]
    return [
        ("Start-up to /readyz: new data directory", f"{startup['empty_median']:.2f} s",
         f"runs {startup['empty_seconds']}", "", "< 1 s",
         _verdict(startup["empty_median"] < 1)),
        (f"Start-up to /readyz: {label} events", f"{startup['big_median']:.2f} s",
         f"runs {startup['big_seconds']}", "", "< 2 s",
         _verdict(startup["big_median"] < 2 and startup["complete"])),
        ("Start-up: gethook sink --port 0 to its JSON line",
         f"{sink:.2f} s" if sink is not None else "n/a",
         f"runs {startup['sink_seconds']}" if sink is not None else "no sink command",
         "", "-", ""),
    ]  # fmt: skip


def _reads_rows(reads: dict) -> list[Row]:
    events = reads["events"]
    label = f"{events / 1e6:g}M" if events >= 1_000_000 else f"{events / 1e3:g}k"
    ingest = reads["ingest"]
    rows: list[Row] = []
    for key, name in (("events_first_page", "first page"), ("events_filtered", "status+source")):
        timing = reads["reads"][key]
        rows.append(
            (f"{label} events, ingesting {reads['ingest_rate']:,}/s: GET /v1/events {name} p99",
             f"{_ms(timing['p99_ms'])} (p50 {_ms(timing['p50_ms'])}, n {timing['n']})",
             f"ingest {ingest['ok_rps']:,.0f}/s p99 {_ms(ingest['p99_ms'])}", "", "< 50 ms",
             _verdict(timing["p99_ms"] is not None and timing["p99_ms"] < 50))
        )  # fmt: skip
    rows.append(
        ("Reads under load: all 200, full pages, every 202 committed",
         f"{reads['statuses']}, {reads['committed']:,} committed", "", "", "",
         _verdict(reads["complete"]))
    )  # fmt: skip
    return rows


def table(results: dict) -> str:
    rows: list[Row] = [("figure", "value", "ceiling / reference", "ratio", "target", "")]
    for phase, builder in (
        ("ingest", _ingest_rows),
        ("delivery", _delivery_rows),
        ("mixed", _mixed_rows),
        ("fanout", lambda figures: _fanout_rows(figures, results)),
        ("retry_storm", lambda figures: _storm_rows(figures, results)),
        ("bad_endpoint", _bad_endpoint_rows),
        ("scale", _scale_rows),
        ("startup", _startup_rows),
        ("reads_under_load", _reads_rows),
    ):
        if phase in results:
            rows.extend(builder(results[phase]))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for number, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    machine = results["machine"]
    header = (
        f"GetHook Lite benchmark ({results['mode']} mode, {results.get('total_seconds', 0):.0f} s)"
        f" on {machine['nproc']} CPUs, {machine['cpu']}, load at start "
        f"{', '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}"
    )
    return header + "\n" + "\n".join(lines)


def profiles(summaries: dict) -> str:
    out = []
    for name, summary in summaries.items():
        out.append(f"\nprofile {name}: {summary['samples']} samples (py-spy, active threads)")
        out.append("  threads: " + ", ".join(f"{t} {p}%" for t, p in summary["threads"][:6]))
        out.append("  by thread and layer (innermost matching frame):")
        out.extend(f"    {p:5.1f}%  {c}" for c, p in summary["categories"][:12])
        out.append("  top self time:")
        out.extend(f"    {p:5.1f}%  {f}" for f, p in summary["self"][:15])
        out.append("  top inclusive time in gethook_lite:")
        out.extend(f"    {p:5.1f}%  {f}" for f, p in summary["gethook_inclusive"][:15])
    return "\n".join(out)
