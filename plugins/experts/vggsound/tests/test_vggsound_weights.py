"""VGGSound loads real checkpoint files, and refuses wrong ones with a message that says what to do."""

import numpy as np
import pytest
import torch

from bench_vggsound.expert import VGGSound

from benchmark.errors import BenchError
from benchmark.testing import noise, shared_expert


def test_an_official_style_vggsound_checkpoint_loads_by_path(tmp_path):
    expert = shared_expert(VGGSound)
    state = {f"audnet.{k}": v for k, v in expert.network.state_dict().items()}
    path = tmp_path / "H.pth.tar"
    torch.save({"epoch": 3, "model_state_dict": state, "best_acc": np.float64(0.5)}, path)  # as the VGGSound script saves
    loaded = VGGSound(weights=str(path))
    clip = [noise(2.0, 16000)]
    np.testing.assert_allclose(loaded.embed(clip)[0], expert.embed(clip)[0], atol=1e-6)
    assert loaded.settings()["weights"]["file"]  # the file's SHA-256 is part of the cache key


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot load weights file"),
        (b"PK\x03\x04 truncated", "cannot load weights file"),
        (None, r"does not fit ResNet18 \(missing: conv1.weight"),
    ],
)
def test_a_wrong_or_truncated_weights_file_is_refused(tmp_path, content, message):
    path = tmp_path / "H.pth.tar"
    if content is None:
        torch.save({"model_state_dict": {"fc.weight": torch.zeros(2, 2)}}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(BenchError, match=message) as error:
        VGGSound(weights=str(path)).embed([noise(1.0, 16000)])
    assert str(path) in str(error.value)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    """weights_only: a pickle that calls a function on load is never executed."""
    import pickle

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Exploit()}, path, pickle_module=pickle)
    with pytest.raises(BenchError, match="cannot load weights file"):
        VGGSound(weights=str(path)).embed([noise(1.0, 16000)])
