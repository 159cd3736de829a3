"""VGGish loads its two checkpoint files and refuses stand-ins with a message that says what to do."""

import numpy as np
import pytest
import torch

from bench_vggish.expert import VGGish

from benchmark.errors import BenchError
from benchmark.testing import noise, shared_expert


def test_vggish_loads_its_two_files_from_the_weights_directory(tmp_path, monkeypatch):
    expert = shared_expert(VGGish)
    network = expert.network
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
    np.testing.assert_array_equal(VGGish().embed(clip)[0], expert.embed(clip)[0])
