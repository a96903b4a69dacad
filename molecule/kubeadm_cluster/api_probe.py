"""Ask the API server through the VIP once a second until a stop file appears; write what it saw.

Started by side_effect.yml before playbooks/upgrade-compute.yml and stopped
after it. Each probe is one GET of /readyz (allowed to anonymous users by
Kubernetes' default RBAC) with its own connection and a short timeout, so a
control plane being replaced behind the VIP shows up as failed probes. Other
targets (each API server's own address) are probed beside it, so an outage
at the VIP can be told apart from one of every API server at once.

The result (JSON), for the VIP and for each other target: the number of
probes and of failures, the longest gap between two answered probes, and the
outages (runs of failed probes, with their wall-clock start and first error)
and the longest of them, which verify.yml checks and bench_nodes.py prints.

  python3 api_probe.py --url https://10.88.250.10:6443/readyz [--also cp1=https://10.88.250.11:6444/readyz]
                       --stop STOPFILE --out RESULT.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import ssl
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

Sample = tuple[float, float, str | None]  # (monotonic seconds, wall-clock epoch, error or None)


def unverified_context() -> ssl.SSLContext:
    """One TLS client context for every probe. The probe measures reachability, so the cluster's CA is not its
    concern: nothing is verified and no CA bundle is loaded (loading the system bundle for every probe cost about
    a seventh of a core while three targets were probed each second)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


CONTEXT = unverified_context()


def probe(url: str, timeout: float) -> str | None:
    """None when the API server answered 200, else what went wrong. Each probe opens its own connection."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=CONTEXT) as answer:
            return None if answer.status == 200 else f"HTTP {answer.status}"
    except Exception as exc:  # every failure is a failed probe, named in the result
        return f"{type(exc).__name__}: {exc}"


def outages(samples: list[Sample]) -> list[dict]:
    """Runs of failed probes: when each began (offset and UTC time), how long until the next answer, the first error."""
    found = []
    for failed, run in itertools.groupby(enumerate(samples), key=lambda item: item[1][2] is not None):
        if not failed:
            continue
        run = list(run)
        _first, (start, wall, error) = run[0]
        last_index = run[-1][0]
        answered = samples[last_index + 1][0] if last_index + 1 < len(samples) else None
        found.append(
            {
                "at_s": round(start - samples[0][0], 1),
                "at": datetime.fromtimestamp(wall, UTC).strftime("%H:%M:%S"),
                "probes": len(run),
                "until_answer_s": None if answered is None else round(answered - start, 1),
                "error": error,
            }
        )
    return found


def summarise(samples: list[Sample]) -> dict:
    """Counts, the longest gap between answered probes and the outages."""
    answered = [t for t, _wall, error in samples if error is None]
    gaps = [later - earlier for earlier, later in itertools.pairwise(answered)]
    found = outages(samples)
    return {
        "probes": len(samples),
        "failures": sum(1 for sample in samples if sample[2] is not None),
        "answered": len(answered),
        "seconds": round(samples[-1][0] - samples[0][0], 1) if samples else 0.0,
        "longest_gap_s": round(max(gaps, default=0.0), 1),
        "last_answered": bool(samples) and samples[-1][2] is None,
        "longest_outage_probes": max((outage["probes"] for outage in found), default=0),
        "outages": found,
    }


def watch(url: str, stop: Path, interval: float, timeout: float, limit: float, samples: list[Sample]) -> None:
    started = time.monotonic()
    while not stop.exists() and time.monotonic() - started < limit:
        tick = time.monotonic()
        samples.append((tick, time.time(), probe(url, timeout)))
        time.sleep(max(0.0, interval - (time.monotonic() - tick)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the endpoint under test (the VIP)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=URL", help="a target probed beside it")
    parser.add_argument("--stop", required=True, type=Path, help="probing ends when this file exists")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--limit", type=float, default=3600.0, help="stop after this many seconds regardless")
    args = parser.parse_args(argv)
    targets = {"endpoint": args.url, **dict(item.split("=", 1) for item in args.also)}
    samples: dict[str, list[Sample]] = {name: [] for name in targets}
    threads = [
        threading.Thread(target=watch, args=(url, args.stop, args.interval, args.timeout, args.limit, samples[name]))
        for name, url in targets.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = summarise(samples["endpoint"])
    result["url"] = args.url
    result["others"] = {
        name: {"url": targets[name], **summarise(samples[name])} for name in targets if name != "endpoint"
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
