"""Rich tables of the detailed figures, and the summary table as rich and as Markdown."""

from __future__ import annotations

import os
import platform

from rich.table import Table

from bench.issuance import IssueResult
from bench.offline import OfflineRates, QRSize
from bench.results import EndpointLoad, HttpRow, IssueRow, Results

SUMMARY_HEADERS = ("Measurement", "Setup", "Result")


def environment() -> str:
    """Return a one-line description of the machine and interpreter."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs, load average {load:.2f}; server and load generator share the machine")


def _n(value: float) -> str:
    """Format a rate with thousands separators and no decimals."""
    return f"{value:,.0f}"


def qr_table(qr: QRSize) -> Table:
    """Return the QR size table."""
    table = Table(title="QR size (demo business license 营业执照, error correction M)")
    for header in ("version", "modules", "QR text"):
        table.add_column(header, justify="right")
    table.add_row(str(qr.version), f"{qr.modules}×{qr.modules}", f"{qr.characters} characters")
    return table


def offline_table(rates: OfflineRates) -> Table:
    """Return the offline verification table."""
    table = Table(title="Offline verification (one thread, same QR and signature)")
    table.add_column("operation")
    table.add_column("calls/s", justify="right")
    table.add_column("vs raw signature", justify="right")
    table.add_row(f"raw {rates.alg} verify_raw()", _n(rates.raw_signature), "1.00×")
    table.add_row("verify(qr_text, trust, now)", _n(rates.verify), f"{rates.ratio:.2f}×")
    table.add_row("decode_qr() alone", _n(rates.decode), f"{rates.decode / rates.raw_signature:.2f}×")
    return table


def _cpu(measured: EndpointLoad) -> str:
    """Format server CPU microseconds per request."""
    us = measured.cpu_us_per_request
    return "n/a" if us is None else f"{us:,.0f}"


def _load_cells(measured: EndpointLoad) -> tuple[str, ...]:
    """Return the HTTP table cells of one endpoint's load."""
    result = measured.load
    return (_n(result.rps), f"{result.p50_ms:.1f}", f"{result.p90_ms:.1f}", f"{result.p99_ms:.1f}",
            _n(result.requests), str(result.errors), _cpu(measured), f"{result.client_cpu:.0%}")


def _workers(count: int) -> str:
    """Return "1 worker" or "N workers"."""
    return f"{count} worker{'s' if count > 1 else ''}"


def http_table(rows: list[HttpRow]) -> Table:
    """Return the HTTP load table, two lines per server configuration."""
    connections = ", ".join(sorted({str(row.connections) for row in rows}))
    table = Table(title=f"HTTP under load: uvicorn on 127.0.0.1, {connections} keep-alive connections, closed loop",
                  caption="srv µs/req: server CPU per request, all uvicorn processes; gen CPU: load generator busy")
    for header in ("endpoint", "server", "req/s", "p50 ms", "p90 ms", "p99 ms", "requests", "errors",
                   "srv µs/req", "gen CPU", "÷ /health"):
        table.add_column(header, justify="left" if header in ("endpoint", "server") else "right", no_wrap=True)
    for row in rows:
        table.add_row("POST /verify", _workers(row.workers), *_load_cells(row.verify), f"{row.ratio:.2f}×")
        table.add_row("GET /health", _workers(row.workers), *_load_cells(row.health), "1.00×")
    return table


def _issue_setup(row: IssueRow) -> str:
    """Return "backend, sequential" or "backend, N clients"."""
    return f"{row.backend}, " + ("sequential" if row.result.clients == 1 else f"{row.result.clients} clients")


def issuance_table(rows: list[IssueRow]) -> Table:
    """Return the issuance table."""
    table = Table(title="Issuance: POST /licenses with a department token, on the first server")
    for header in ("setup", "licenses/s", "p50 ms", "p99 ms", "issued", "errors", "server CPU ms/license"):
        table.add_column(header, justify="left" if header == "setup" else "right")
    for row in rows:
        r: IssueResult = row.result
        cpu = "n/a" if row.cpu_ms_per_license is None else f"{row.cpu_ms_per_license:.1f}"
        table.add_row(_issue_setup(row), f"{r.per_second:,.1f}", f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}",
                      str(r.issued), str(r.errors), cpu)
    return table


def detail_tables(results: Results) -> list[Table]:
    """Return the detailed tables of whatever was measured."""
    tables = [qr_table(results.qr)] if results.qr else []
    tables += [offline_table(results.offline)] if results.offline else []
    tables += [http_table(results.http)] if results.http else []
    tables += [issuance_table(results.issuance)] if results.issuance else []
    return tables


def _latency(measured: EndpointLoad) -> str:
    """Return p50, p99 and server CPU per request as one phrase."""
    result, us = measured.load, measured.cpu_us_per_request
    cpu = "" if us is None else f"; server CPU {us:,.0f} µs/req"
    return f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms{cpu}"


def _http_summary(row: HttpRow) -> list[tuple[str, str, str]]:
    """Return the summary rows of one server configuration."""
    setup = f"{_workers(row.workers)}, {row.connections} connections"
    return [
        ("POST /verify", setup, f"{_n(row.verify.load.rps)} req/s, {_latency(row.verify)}"),
        ("GET /health", setup, f"{_n(row.health.load.rps)} req/s, {_latency(row.health)}"),
        ("/verify ÷ /health", setup, f"{row.ratio:.2f}× throughput"),
    ]


def summary_rows(results: Results) -> list[tuple[str, str, str]]:
    """Return the summary as (measurement, setup, result) rows."""
    rows: list[tuple[str, str, str]] = []
    if results.qr:
        q = results.qr
        rows.append(("QR size", "demo 营业执照, EC level M",
                     f"version {q.version} ({q.modules}×{q.modules}), {q.characters} characters"))
    if results.offline:
        o = results.offline
        rows.append(("Offline verify()", "1 thread", f"{_n(o.verify)}/s"))
        rows.append((f"Raw {o.alg} signature check", "1 thread, same message",
                     f"{_n(o.raw_signature)}/s (verify() = {o.ratio:.2f}× raw)"))
    for row in results.http:
        rows.extend(_http_summary(row))
    for row in results.issuance:
        cpu = "" if row.cpu_ms_per_license is None else f"; server CPU {row.cpu_ms_per_license:.0f} ms/license"
        rows.append(("POST /licenses", _issue_setup(row), f"{row.result.per_second:,.1f} licenses/s{cpu}"))
    rows.extend(results.extra)
    return rows


def summary_table(results: Results) -> Table:
    """Return the summary as a rich table."""
    table = Table(title="Summary")
    for header in SUMMARY_HEADERS:
        table.add_column(header)
    for row in summary_rows(results):
        table.add_row(*row)
    return table


def markdown(results: Results) -> str:
    """Return the summary as a Markdown table (plus notes) to paste into the README."""
    lines = [f"| {' | '.join(SUMMARY_HEADERS)} |", f"|{'|'.join(' --- ' for _ in SUMMARY_HEADERS)}|"]
    lines += [f"| {' | '.join(row)} |" for row in summary_rows(results)]
    lines += ["", f"_{results.environment or environment()}._"]
    if results.notes:
        lines += [""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines)
