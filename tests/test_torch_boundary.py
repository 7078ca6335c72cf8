"""The torch boundary and the layering, checked in a fresh interpreter: parsing and planning a
grid spec, the measurement table and its shards, and reading measurements import no torch;
the analysis core's reader (``scalecmp.io``) imports nothing from ``scalecmp.experiments``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_grid_bookkeeping_modules_import_no_torch():
    _run(
        "import sys\n"
        "import scalecmp.experiments.spec, scalecmp.experiments.plan\n"
        "import scalecmp.experiments.store, scalecmp.experiments.shards\n"
        "import scalecmp.experiments.registry, scalecmp.experiments.checkpoints\n"
        "import scalecmp.experiments.datasets\n"
        "assert 'torch' not in sys.modules\n"
    )


def test_parsing_and_planning_the_example_specs_imports_no_torch(tmp_path):
    specs = sorted(EXAMPLES.glob("*.yaml"))
    assert specs
    _run(
        "import sys\n"
        "from scalecmp.experiments.plan import plan_units, steps_to_train\n"
        "from scalecmp.experiments.shards import collect, write_shard_rows\n"
        "from scalecmp.experiments.spec import load_spec\n"
        f"specs = {[str(p) for p in specs]!r}\n"
        f"out = {str(tmp_path)!r}\n"
        "for path in specs:\n"
        "    spec = load_spec(path)\n"
        "    for unit in plan_units(spec, out, set()):\n"
        "        [steps_to_train(spec, job) for job in unit.jobs]\n"
        "write_shard_rows(out, 'u1', [{'procedure': 'clip', 'model': 'xxs', 'dataset': 'd',\n"
        "    'schedule': 'const', 'lr': 1e-3, 'batch_size': 8, 'warmup': 0, 'seed': 0,\n"
        "    'samples_seen': 8, 'gflops_per_sample': 1.0, 'gflops_total': 8.0, 'params': 1,\n"
        "    'task': 'train', 'metric': 'loss', 'value': 1.0}])\n"
        "collect(out, spec)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )


def test_reading_measurements_imports_neither_torch_nor_the_harness_from_io(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("c,acc\n1,0.1\n2,0.2\n")
    _run(
        "import sys\n"
        "import scalecmp.io, scalecmp.files, scalecmp.errors\n"
        "harness = [m for m in sys.modules if m.startswith('scalecmp.experiments')]\n"
        "assert not harness, harness\n"
        "import scalecmp\n"
        f"assert len(scalecmp.load_measurements({str(csv)!r})) == 2\n"
        "assert 'torch' not in sys.modules\n"
    )
