"""One instance of each pretrained expert with random weights, shared by the tests of this folder."""

import numpy as np
import pytest

from bench_openl3.expert import OpenL3
from bench_panns.expert import PANNs
from bench_vggish.expert import VGGish
from bench_vggsound.expert import VGGSound

CLASSES = {"openl3": OpenL3, "panns": PANNs, "vggsound": VGGSound, "vggish": VGGish}


@pytest.fixture(scope="session")
def experts():
    """float32, the precision the libraries compute in (``auto`` may pick bfloat16 here)."""
    return {name: cls(weights="random", precision="float32") for name, cls in CLASSES.items()}


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)
