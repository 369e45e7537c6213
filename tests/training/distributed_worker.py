"""A process of tests/training/test_distribute.py, run as a subprocess:

    python distributed_worker.py FOLDER FLAGS_JSON MODE

Trains FOLDER/MODE to 6 steps with --distribute MODE, then resumes it to 12: under multiworker
(TF_CONFIG set) each worker of the cluster runs this, on the chief's folder; under mirrored
(CHARLM_CPU_REPLICAS=2) one process runs it on its CPU split in two. A process holds one strategy
kind: TensorFlow refuses a MirroredStrategy once multi-worker collectives have started. Prints
one JSON line: the exit codes and the replicas the strategy had.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's charlm

from charlm.cli import main  # noqa: E402
from charlm.training.distribute import _STRATEGIES  # noqa: E402

folder, flags, mode = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
codes = [main(["train", *flags, "--distribute", mode, "--max-steps", "6", "--out",
               str(folder / mode), "--quiet"]),
         main(["train", "--resume", str(folder / mode), "--max-steps", "12", "--quiet"])]
print(json.dumps({"codes": codes, "replicas": _STRATEGIES[mode].num_replicas_in_sync}))
