"""Benchmark: time from kernel start to the first executed cell, envkit kernel beside a
plain ipykernel, alternating in one run (kernelspecs installed into a temporary prefix).

Prints JSON with the medians and the ratio. Target: <= 1.5x.
Usage: python bench/kernel.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def first_cell_seconds(kernel_name: str) -> float:
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=120)
    try:
        msg_id = kc.execute("1 + 1")
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") == msg_id and \
                    msg["msg_type"] == "execute_result":
                break
        return time.perf_counter() - start
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as prefix:
        subprocess.run([sys.executable, "-m", "envkit.cli", "kernel", "install", "--prefix",
                        prefix], check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", prefix,
                        "--name", "plain-python"], check=True, capture_output=True)
        os.environ["JUPYTER_PATH"] = str(Path(prefix) / "share" / "jupyter")
        first_cell_seconds("envkit"), first_cell_seconds("plain-python")  # warm the disk
        envkit_t, plain_t = [], []
        for _ in range(args.repeat):
            envkit_t.append(first_cell_seconds("envkit"))
            plain_t.append(first_cell_seconds("plain-python"))
    envkit_s, plain_s = statistics.median(envkit_t), statistics.median(plain_t)
    print(json.dumps({
        "benchmark": "kernel",
        "envkit_kernel_first_cell_s": round(envkit_s, 3),
        "ipykernel_first_cell_s": round(plain_s, 3),
        "ratio": round(envkit_s / plain_s, 2),
        "target_ratio_max": 1.5,
        "met": envkit_s / plain_s <= 1.5,
    }, indent=2))


if __name__ == "__main__":
    main()
