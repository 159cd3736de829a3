"""panns-inference's package __init__ downloads a label CSV; the plugin must never run it."""

import os
import subprocess
import sys


def test_the_panns_expert_works_offline_even_after_an_empty_label_file(tmp_path):
    labels = tmp_path / "panns_data" / "class_labels_indices.csv"
    labels.parent.mkdir()
    labels.write_text("")  # what a failed offline `import panns_inference` leaves behind
    code = (
        "import numpy as np; from bench_panns.expert import PANNs; "
        "print(PANNs(weights='random').embed([np.zeros(16000, np.float32)])[0].shape)"
    )
    env = {**os.environ, "HOME": str(tmp_path), "no_proxy": "*", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 2048)"
    assert labels.read_text() == "" and list(labels.parent.iterdir()) == [labels]
