"""Symmetric InfoNCE with a learnable temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench_plugins.losses.infonce import InfoNCELoss
from benchmark.api import LossInput


def batch(similarity):
    return LossInput(similarity, torch.arange(similarity.shape[0]))


def test_one_caption_per_clip_is_clips_symmetric_cross_entropy():
    s = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.4], [0.3, 0.6, 0.2]])
    loss = InfoNCELoss(temperature=0.1)(batch(s[:, :, None]))
    target = torch.arange(3)
    expected = (F.cross_entropy(10 * s, target) + F.cross_entropy(10 * s.T, target)) / 2
    assert torch.isclose(loss, expected, atol=1e-6)


def test_each_caption_of_a_clip_forms_its_own_batch():
    torch.manual_seed(0)
    s = torch.rand(4, 4, 5) * 2 - 1
    loss = InfoNCELoss()(batch(s))
    per_caption = torch.stack([InfoNCELoss()(batch(s[:, :, k : k + 1])) for k in range(5)])
    assert torch.isclose(loss, per_caption.mean(), atol=1e-6)


def test_aligned_batches_score_lower_than_shuffled_ones():
    aligned = torch.eye(6)[:, :, None].repeat(1, 1, 5) * 2 - 1
    shuffled = aligned[:, torch.randperm(6, generator=torch.Generator().manual_seed(1))]
    loss = InfoNCELoss()
    assert loss(batch(aligned)) < 1e-3 < loss(batch(shuffled))


def test_the_temperature_learns_and_its_scale_is_capped():
    loss = InfoNCELoss(temperature=0.07)
    assert math.isclose(loss.scale.item(), 1 / 0.07, rel_tol=1e-5)
    s = (torch.rand(4, 4, 2) * 2 - 1).requires_grad_()
    loss(batch(s)).backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad != 0 and s.grad.abs().sum() > 0
    with torch.no_grad():
        loss.log_scale.fill_(10.0)
    assert loss.scale.item() == 100.0
    assert not InfoNCELoss(learn_temperature=False).log_scale.requires_grad


def test_a_temperature_that_is_not_positive_is_refused():
    import pytest

    from benchmark.errors import BenchError

    for temperature in (0.0, -0.07):
        with pytest.raises(BenchError, match="temperature must be positive"):
            InfoNCELoss(temperature=temperature)



def test_clips_with_different_numbers_of_captions_use_each_caption_they_have_once():
    """Hand computation: each caption there is is scored against every audio, and each audio
    against the k-th captions there are; the mean over captions, in each direction."""
    counts, scale = [1, 3, 2], 10.0
    torch.manual_seed(5)
    mask = torch.arange(3)[None, :] < torch.tensor(counts)[:, None]
    s = (torch.rand(3, 3, 3) * 2 - 1).masked_fill(~mask, 7.0)  # padded slots hold garbage
    text_to_audio, audio_to_text = [], []
    for j, count in enumerate(counts):
        for k in range(count):
            column = scale * s[:, j, k]  # caption k of clip j against every audio
            text_to_audio.append(-torch.log_softmax(column, 0)[j])
            others = [c for c in range(3) if counts[c] > k]  # the clips with a k-th caption
            row = scale * s[j, others, k]  # audio j against them
            audio_to_text.append(-torch.log_softmax(row, 0)[others.index(j)])
    expected = (torch.stack(text_to_audio).mean() + torch.stack(audio_to_text).mean()) / 2
    s.requires_grad_()
    loss = InfoNCELoss(temperature=0.1, learn_temperature=False)(LossInput(s, torch.arange(3), mask=mask))
    assert torch.isclose(loss, expected, atol=1e-6)
    loss.backward()
    assert torch.isfinite(s.grad).all() and (s.grad[:, ~mask] == 0).all()  # padding gets no gradient


def test_a_mask_of_all_captions_is_the_unmasked_loss():
    torch.manual_seed(6)
    s = torch.rand(4, 4, 5) * 2 - 1
    everything = LossInput(s, torch.arange(4), mask=torch.ones(4, 5, dtype=torch.bool))
    assert torch.isclose(InfoNCELoss()(everything), InfoNCELoss()(batch(s)), atol=1e-6)
