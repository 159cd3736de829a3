"""Mixture of embedded experts and collaborative gating on hand-made inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench_plugins.fusions.moee import CollaborativeGate, CollaborativeGating, MixtureOfEmbeddedExperts

DIM = 8


def inputs(n_audio=4, n_text=5, n_experts=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    audio = [torch.randn(n_audio, DIM, generator=generator) for _ in range(n_experts)]
    return audio, torch.randn(n_text, DIM, generator=generator)


def per_expert(fusion, audio, text):
    """``<audio_e, caption_e>`` of every expert: ``[n_experts, n_audio, n_text]``."""
    return torch.stack([a(x) @ t(text).T for x, a, t in zip(audio, fusion.audio_units, fusion.text_units)])


def test_mixture_weights_are_a_distribution_over_experts_and_weigh_the_cosines():
    torch.manual_seed(0)
    fusion = MixtureOfEmbeddedExperts(n_experts=3, dim=DIM).eval()
    audio, text = inputs()
    weights = fusion.mixture_weights(text)
    assert weights.shape == (5, 3) and (weights > 0).all()
    assert torch.allclose(weights.sum(dim=-1), torch.ones(5))
    expected = (per_expert(fusion, audio, text) * weights.T[:, None, :]).sum(dim=0)
    assert torch.allclose(fusion(audio, text), expected, atol=1e-6)
    # Each expert's space is a cosine: the similarity stays within [-1, 1].
    assert fusion(audio, text).abs().max() <= 1.0 + 1e-6


def test_a_caption_that_weighs_one_expert_fully_sees_only_that_expert():
    torch.manual_seed(0)
    fusion = MixtureOfEmbeddedExperts(n_experts=3, dim=DIM).eval()
    with torch.no_grad():
        fusion.mixture.weight.zero_()
        fusion.mixture.bias.copy_(torch.tensor([50.0, 0.0, 0.0]))  # softmax ~ [1, 0, 0]
    audio, text = inputs()
    assert torch.allclose(fusion(audio, text), per_expert(fusion, audio, text)[0], atol=1e-6)
    changed = [audio[0], torch.randn_like(audio[1]), torch.randn_like(audio[2])]
    assert torch.allclose(fusion(changed, text), fusion(audio, text), atol=1e-6)


def test_a_closed_gate_removes_an_experts_influence():
    torch.manual_seed(0)
    fusion = CollaborativeGating(n_experts=3, dim=DIM).eval()
    audio, text = inputs()
    closed = lambda vectors: [torch.zeros_like(vectors[0]), torch.ones_like(vectors[1]), torch.ones_like(vectors[2])]  # noqa: E731
    fusion.gates = closed
    weights = fusion.mixture_weights(text)
    others = (per_expert(fusion, audio, text)[1:] * weights.T[1:, None, :]).sum(dim=0)
    assert torch.allclose(fusion(audio, text), others, atol=1e-6)  # expert 0 adds nothing
    swapped = [torch.randn_like(audio[0]) * 10, audio[1], audio[2]]
    assert torch.allclose(fusion(swapped, text), fusion(audio, text), atol=1e-6)
    fusion.gates = lambda vectors: [torch.ones_like(v) for v in vectors]  # all open: expert 0 counts again
    assert not torch.allclose(fusion(swapped, text), fusion(audio, text), atol=1e-3)


def test_gates_come_from_the_other_experts():
    torch.manual_seed(0)
    gate = CollaborativeGate(DIM).eval()
    audio, _ = inputs()
    gates = gate(audio)
    assert len(gates) == 3 and all(g.shape == (4, DIM) and ((g > 0) & (g < 1)).all() for g in gates)
    # Changing expert 2 changes the gates of experts 0 and 1 (messages from 2), ...
    moved = gate([audio[0], audio[1], audio[2] + 5.0])
    assert not torch.allclose(moved[0], gates[0]) and not torch.allclose(moved[1], gates[1])
    # ... and a gate network whose output bias is very negative closes every gate.
    with torch.no_grad():
        gate.h[-1].bias.fill_(-1e4)
    assert all(g.max() < 1e-6 for g in gate(audio))


def test_fusions_train_through_the_gates():
    torch.manual_seed(0)
    fusion = CollaborativeGating(n_experts=2, dim=DIM)
    audio, text = inputs(n_audio=4, n_text=4, n_experts=2)
    loss = -fusion(audio, text).diagonal().mean()
    loss.backward()
    assert fusion.gate.g[0].weight.grad.abs().sum() > 0 and fusion.mixture.weight.grad.abs().sum() > 0


def test_a_single_expert_is_gated_by_nothing_and_still_works():
    fusion = CollaborativeGating(n_experts=1, dim=DIM).eval()
    audio, text = inputs(n_experts=1)
    assert fusion(audio, text).shape == (4, 5)
    assert F.softmax(fusion.mixture(text), dim=-1).allclose(torch.ones(5, 1))


@pytest.mark.parametrize("name", ["moee", "collaborative_gating"])
def test_registered_as_fusion_plugins(name):
    from benchmark.plugins import get_plugin_manager

    fusion = get_plugin_manager().create("fusions", {"name": name}, "fusion", n_experts=2, dim=DIM)
    assert isinstance(fusion, MixtureOfEmbeddedExperts)


def test_a_gated_embedding_unit_is_the_normalised_gated_projection():
    from bench_plugins.fusions.moee import GatedEmbeddingUnit

    torch.manual_seed(0)
    unit = GatedEmbeddingUnit(DIM, 6)
    x = torch.randn(4, DIM)
    z = x @ unit.project.weight.T  # W1 x, no bias
    expected = F.normalize(z * torch.sigmoid(z @ unit.gate.weight.T + unit.gate.bias), dim=-1)
    assert torch.allclose(unit(x), expected, atol=1e-6)

