"""Loading real checkpoint files, and refusing wrong ones with a message that says what to do."""

import numpy as np
import pytest
import torch

from benchmark.errors import BenchError
from tests.plugins.experts.conftest import noise


def test_an_official_style_vggsound_checkpoint_loads_by_path(experts, tmp_path):
    from bench_vggsound.expert import VGGSound

    state = {f"audnet.{k}": v for k, v in experts["vggsound"].network.state_dict().items()}
    path = tmp_path / "H.pth.tar"
    torch.save({"epoch": 3, "model_state_dict": state, "best_acc": np.float64(0.5)}, path)  # as the VGGSound script saves
    loaded = VGGSound(weights=str(path))
    clip = [noise(2.0, 16000)]
    np.testing.assert_allclose(loaded.embed(clip)[0], experts["vggsound"].embed(clip)[0], atol=1e-6)
    assert loaded.settings()["weights"]["file"]  # the file's SHA-256 is part of the cache key


def test_panns_reads_the_model_entry_of_its_checkpoint(experts, tmp_path, monkeypatch):
    from bench_panns.expert import PANNs

    path = tmp_path / "cnn14.pth"
    torch.save({"model": experts["panns"].network.state_dict(), "iteration": 600000}, path)
    clip = [noise(1.5, 16000)]
    np.testing.assert_allclose(PANNs(weights=str(path), precision="float32").embed(clip)[0], experts["panns"].embed(clip)[0], atol=1e-6)


def test_vggish_loads_its_two_files_from_the_weights_directory(experts, tmp_path, monkeypatch):
    from bench_vggish.expert import VGGish

    network = experts["vggish"].network
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    torch.save(network.vgg.state_dict(), tmp_path / "vggish-10086976.pth")
    pca = {"pca_eigen_vectors": network.pca_eigen_vectors.detach().numpy(), "pca_means": network.pca_means.detach().numpy()}
    torch.save(pca, tmp_path / "vggish_pca_params-970ea276.pth")
    # These stand-ins are not the published files, so their checksums (torch.hub prefixes) fail:
    with pytest.raises(BenchError, match=r"vggish-10086976.pth fails its checksum .*sha256 starting 10086976"):
        VGGish().embed([noise(1.0, 16000)])
    from bench_vggish import expert as module

    files = {role: type(f)(f.name, f.url) for role, f in module.VGGish.files.items()}  # no published checksum
    monkeypatch.setattr(module.VGGish, "files", files)
    clip = [noise(3.0, 16000)]
    np.testing.assert_array_equal(VGGish().embed(clip)[0], experts["vggish"].embed(clip)[0])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot load weights file"),
        (b"PK\x03\x04 truncated", "cannot load weights file"),
        (None, r"does not fit ResNet18 \(missing: conv1.weight"),
    ],
)
def test_a_wrong_or_truncated_weights_file_is_refused(tmp_path, content, message):
    from bench_vggsound.expert import VGGSound

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
    from bench_vggsound.expert import VGGSound

    with pytest.raises(BenchError, match="cannot load weights file"):
        VGGSound(weights=str(path)).embed([noise(1.0, 16000)])


def test_a_missing_file_path_is_named(tmp_path):
    from bench_panns.expert import PANNs

    with pytest.raises(BenchError, match="weights file .*nope.pth does not exist"):
        PANNs(weights=str(tmp_path / "nope.pth")).embed([noise(1.0, 16000)])
