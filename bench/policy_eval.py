"""Policy evaluation throughput: resources judged per second, one thread.

Run: .venv/bin/python -m bench.policy_eval [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from bench.synthetic import estate
from compliance.core import policy

SAMPLE = Path(__file__).resolve().parents[1] / "compliance" / "sample_data" / "sample_policy.yaml"


def measure(size: int, sample_policy: policy.Policy) -> tuple[float, int]:
    resources = [(r.resource_type, r.tags) for r in estate(size)]
    started = time.perf_counter()
    findings = 0
    for resource_type, tags in resources:
        findings += len(policy.evaluate(sample_policy, resource_type, tags))
    elapsed = time.perf_counter() - started
    return size / elapsed, findings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sample_policy = policy.parse_policy(SAMPLE.read_text())
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        measure(1000, sample_policy)  # warm the per-type caches
        rate, findings = measure(size, sample_policy)
        print(f"evaluate {size:>9,} resources: {rate:>12,.0f} resources/s ({findings:,} findings)")


if __name__ == "__main__":
    main()
