"""bench/gpu_check.py at tiny sizes on the CPU: every section of the GPU run still works."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_every_section_at_tiny_sizes_on_the_cpu(tmp_path):
    out = tmp_path / "check.json"
    cmd = [sys.executable, "bench/gpu_check.py", "--tiny", "--device", "cpu", "--seeds", "2", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for header in ("## 1. Training step", "## 2. Inception Score", "## 3. Resume", "## 4. Semi-supervised"):
        assert header in proc.stdout
    report = json.loads(out.read_text())
    variants = {(row["case"].split()[0], row["variant"]) for row in report["steps"]}
    assert {("MLP", "eager"), ("MLP", "compile"), ("conv", "channels_last"), ("conv", "compile")} <= variants
    assert "error" not in report["inception"]
    assert report["resume"]["max_difference"] == 0.0  # bit-exact on the CPU
    assert report["ssl_summary"]["seeds"] == 2
    assert 0.0 <= report["ssl_summary"]["mean"] <= 1.0
