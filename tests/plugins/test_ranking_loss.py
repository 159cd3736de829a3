import torch

from bench_plugins.losses.ranking import RankingLoss
from benchmark.api import LossInput


def reference(s, margin):
    """The report's formula, written as loops."""
    b = len(s)
    total = 0.0
    for i in range(b):
        for j in range(b):
            if i != j:
                total += max(0.0, margin + s[i][j] - s[i][i]) + max(0.0, margin + s[j][i] - s[i][i])
    return total / b


def test_matches_the_reports_formula_with_multi_caption_means():
    torch.manual_seed(0)
    similarity = torch.rand(6, 6, 5) * 2 - 1  # audio i vs caption k of clip j
    loss = RankingLoss(margin=0.2)(LossInput(similarity, torch.arange(6)))
    assert torch.isclose(loss, torch.tensor(reference(similarity.mean(-1).tolist(), 0.2), dtype=loss.dtype))


def test_zero_when_every_pair_is_separated_by_the_margin():
    s = torch.full((4, 4, 1), -0.5)
    s[range(4), range(4)] = 0.9
    assert RankingLoss(0.2)(LossInput(s, torch.arange(4))).item() == 0.0
    assert RankingLoss(2.0)(LossInput(s, torch.arange(4))).item() > 0.0
