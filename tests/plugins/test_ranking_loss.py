import numpy as np
import pytest
import torch

from bench_plugins.losses.ranking import RankingLoss
from benchmark.api import LossInput


def reference(s, margin):
    """The report's formula, written as loops; ``margin`` is m, or m * r(c_ij) per pair."""
    b = len(s)
    m = margin if isinstance(margin, list) else [[margin] * b for _ in range(b)]
    total = 0.0
    for i in range(b):
        for j in range(b):
            if i != j:
                total += max(0.0, m[i][j] + s[i][j] - s[i][i]) + max(0.0, m[i][j] + s[j][i] - s[i][i])
    return total / b


def test_matches_the_reports_formula_with_multi_caption_means():
    torch.manual_seed(0)
    similarity = torch.rand(6, 6, 5) * 2 - 1  # audio i vs caption k of clip j
    loss = RankingLoss()(LossInput(similarity, torch.arange(6)))  # the report's margin, 0.2, by default
    assert torch.isclose(loss, torch.tensor(reference(similarity.mean(-1).tolist(), 0.2), dtype=loss.dtype))


def test_zero_when_every_pair_is_separated_by_the_margin():
    s = torch.full((4, 4, 1), -0.5)
    s[range(4), range(4)] = 0.9
    assert RankingLoss(0.2)(LossInput(s, torch.arange(4))).item() == 0.0
    assert RankingLoss(2.0)(LossInput(s, torch.arange(4))).item() > 0.0


def test_matching_term_adds_weight_times_minus_mean_positive_similarity():
    torch.manual_seed(1)
    similarity = torch.rand(5, 5, 3)
    batch = LossInput(similarity, torch.arange(5))
    plain = RankingLoss(0.2)(batch)
    with_matching = RankingLoss(0.2, matching_weight=3.0)(batch)
    assert torch.isclose(with_matching, plain - 3.0 * similarity.mean(-1).diagonal().mean())


@pytest.mark.parametrize("dense_clips", [8192, 0], ids=["whole-matrix", "blocks-from-vectors"])
def test_cider_relaxation_looks_up_pairs_by_clip_index_in_each_split(tmp_path, monkeypatch, dense_clips):
    from benchmark.api import LossContext
    from bench_plugins.losses import ranking
    from bench_plugins.losses.relax import clip_cider, percentiles, relax

    monkeypatch.setattr(ranking, "DENSE_CLIPS", dense_clips)
    train = [[f"a bell rings number {i}", f"bell {i % 3} rings"] for i in range(20)]
    validation = [[f"wind blows {i}"] for i in range(5)]
    loss = RankingLoss(0.2, relax={"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]})
    loss.prepare(LossContext("toy", {"train": train, "validation": validation}, tmp_path))
    index = torch.tensor([3, 7, 11])
    margins = loss.margins(LossInput(torch.zeros(3, 3, 2), index, "train"))
    full = {role: torch.from_numpy(clip_cider(captions)) for role, captions in (("train", train), ("validation", validation))}
    expected = 0.2 * relax(full["train"][index][:, index], loss.thresholds, [1.0, 0.7, 0.4])
    assert torch.allclose(margins, expected) and margins.shape == (3, 3)
    pair = torch.tensor([0, 4])
    expected = 0.2 * relax(full["validation"][pair][:, pair], loss.thresholds, [1.0, 0.7, 0.4])
    assert torch.allclose(loss.margins(LossInput(torch.zeros(2, 2, 1), pair, "validation")), expected)
    assert not loss.state_dict() and not list(loss.buffers())  # nothing n x n held, nothing in checkpoints
    assert loss.threshold_estimate.method == "exact" and "exact" in repr(loss)
    assert loss.thresholds == percentiles(full["train"].numpy(), [80, 90, 99])  # from the matrix or the vectors alike

    # Relaxation with r = 1 everywhere is the plain loss.
    flat = RankingLoss(0.2, relax={"percentiles": [80, 90, 99], "values": [1.0, 1.0, 1.0]})
    flat.prepare(LossContext("toy", {"train": train, "validation": validation}, tmp_path))
    batch = LossInput(torch.rand(3, 3, 2), index)
    assert torch.isclose(flat(batch), RankingLoss(0.2)(batch))


def test_bad_relax_settings_are_refused():
    from benchmark.errors import BenchError

    for bad in (
        {"percentiles": [90, 80], "values": [1.0, 0.7]},  # not increasing
        {"percentiles": [80, 90], "values": [1.0]},  # lengths differ
        {"percentiles": [80, 90], "values": [1.0, 0.7], "clip": True},  # unknown key
        {"values": [1.0, 0.7]},
    ):
        with pytest.raises(BenchError, match="relax must be"):
            RankingLoss(relax=bad)


def test_a_relaxed_loss_used_before_prepare_says_so():
    from benchmark.errors import BenchError

    loss = RankingLoss(relax={"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]})
    with pytest.raises(BenchError, match=r"prepare\(\) was not called before training"):
        loss(LossInput(torch.rand(3, 3, 1), torch.arange(3)))


def test_a_caption_without_words_is_named_by_split_and_file_before_any_cider(tmp_path):
    from benchmark.api import LossContext
    from benchmark.errors import BenchError

    train = [[f"a bell rings number {i}"] for i in range(20)]
    validation = [["wind blows"], ["rain falls", "?!..."]]
    clips = {"train": [f"t{i}.wav" for i in range(20)], "validation": ["v0.wav", "v1.wav"]}
    loss = RankingLoss(0.2, relax={"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]})
    with pytest.raises(BenchError) as caught:
        loss.prepare(LossContext("folder-1234", {"train": train, "validation": validation}, tmp_path, clips))
    assert str(caught.value).startswith("folder-1234, validation split: caption 2 of v1.wav ('?!...') has no words")
    assert not (tmp_path / "cider").exists()  # refused before computing anything


def test_the_cider_relaxation_scales_the_margin_only_not_the_hinge(tmp_path):
    from benchmark.api import LossContext
    from bench_plugins.losses.relax import clip_cider, relax

    # Clips 2k and 2k+1 share their captions: their CIDEr is high, so their margin is relaxed.
    train = [[f"a bell rings {k // 2} times", f"bell {k // 2} rings loudly"] for k in range(20)]
    settings = {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]}
    loss = RankingLoss(0.2, relax=settings)
    loss.prepare(LossContext("toy", {"train": train, "validation": train}, tmp_path))
    index = torch.tensor([0, 1, 2, 3, 6, 7])
    r = relax(torch.from_numpy(clip_cider(train))[index][:, index], loss.thresholds, settings["values"])
    assert r.min() < 0.99  # some pairs are relaxed
    torch.manual_seed(2)
    similarity = torch.rand(6, 6, 2) * 2 - 1
    expected = reference(similarity.mean(-1).tolist(), (0.2 * r).tolist())
    assert loss(LossInput(similarity, index)).item() == pytest.approx(expected, rel=1e-5)



def test_the_relaxed_margins_are_made_on_the_device_of_the_similarities(tmp_path):
    from benchmark.api import LossContext

    train = [[f"a bell rings number {i}", f"bell {i % 3} rings"] for i in range(20)]
    loss = RankingLoss(0.2, relax={"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]})
    loss.prepare(LossContext("toy", {"train": train, "validation": train}, tmp_path))
    loss.to("meta")  # as the trainer moves it: nothing to move
    margins = loss.margins(LossInput(torch.zeros(3, 3, 2, device="meta"), torch.tensor([1, 2, 3]), "train"))
    assert margins.device.type == "meta" and margins.shape == (3, 3)


def padded(counts, seed):
    """Similarities to clips of ``counts`` captions, padded to the most with garbage, and the mask."""
    torch.manual_seed(seed)
    b, most = len(counts), max(counts)
    mask = torch.arange(most)[None, :] < torch.tensor(counts)[:, None]
    similarity = (torch.rand(b, b, most) * 2 - 1).masked_fill(~mask, 50.0)
    return similarity, mask


def test_clips_with_1_3_and_5_captions_are_ranked_on_the_mean_over_their_own():
    similarity, mask = padded([1, 3, 5, 3], seed=3)
    means = [[similarity[i, j, : mask[j].sum()].mean().item() for j in range(4)] for i in range(4)]
    loss = RankingLoss(0.2, matching_weight=2.0)(LossInput(similarity, torch.arange(4), mask=mask))
    expected = reference(means, 0.2) - 2.0 * sum(means[i][i] for i in range(4)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_the_cider_relaxation_uses_every_caption_of_clips_with_different_counts(tmp_path):
    from benchmark.api import LossContext
    from bench_plugins.losses.cider import cider_d, tokenize
    from bench_plugins.losses.relax import relax

    train = [[f"a bell rings {k // 2} times", f"bell {k // 2} rings loudly", "a bell"][: 1 + k % 3] for k in range(20)]
    settings = {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]}
    loss = RankingLoss(0.2, relax=settings)
    loss.prepare(LossContext("toy", {"train": train, "validation": train}, tmp_path))
    index = torch.tensor([0, 1, 2, 3, 6, 7])
    # c_ij by hand: each caption of i against all of j's, averaged over i's, symmetrised.
    tokens = [[tokenize(c) for c in clip] for clip in train]
    per_caption = cider_d([t for clip in tokens for t in clip], tokens)
    starts = np.cumsum([0] + [len(clip) for clip in tokens])
    one_way = np.array([per_caption[starts[i] : starts[i + 1]].mean(axis=0) for i in range(20)])
    c = torch.from_numpy((one_way + one_way.T) / 2)[index][:, index]
    r = relax(c, loss.thresholds, settings["values"])
    similarity, mask = padded([len(train[i]) for i in index], seed=4)
    means = [[similarity[i, j, : mask[j].sum()].mean().item() for j in range(6)] for i in range(6)]
    assert loss(LossInput(similarity, index, mask=mask)).item() == pytest.approx(reference(means, (0.2 * r).tolist()), rel=1e-5)


RELAX = {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]}


def cached_percentiles(cache_dir):
    """The one percentiles file the CIDEr cache under ``cache_dir`` holds."""
    import json

    (path,) = cache_dir.rglob("percentiles-80-90-99.json")
    return json.loads(path.read_text())


def test_the_relaxed_loss_reports_its_exact_thresholds_as_the_cache_keeps_them(tmp_path):
    from benchmark.api import LossContext

    assert RankingLoss(0.2).evidence() == {}  # the plain loss derives nothing from the data
    train = [[f"a bell rings number {i}", f"bell {i % 3} rings"] for i in range(20)]
    loss = RankingLoss(0.2, relax=RELAX)
    loss.prepare(LossContext("toy", {"train": train, "validation": [["wind"]] * 5}, tmp_path))
    evidence = loss.evidence()["cider_thresholds"]
    assert evidence == cached_percentiles(tmp_path) and evidence["values"] == loss.thresholds
    assert (evidence["method"], evidence["pairs"], evidence["population"]) == ("exact", 190, 190)
    assert (evidence["rank_error"], evidence["confidence"], evidence["percentiles"]) == (0.0, 1.0, [80, 90, 99])


def test_sampled_thresholds_are_reported_with_their_bound(tmp_path, monkeypatch):
    from benchmark.api import LossContext
    from bench_plugins.losses import pair_quantiles, ranking, relax

    monkeypatch.setattr(ranking, "DENSE_CLIPS", 0)  # the vectors, not the matrix: the estimate decides
    monkeypatch.setattr(relax, "estimate", lambda pairs, qs: pair_quantiles.sampled(pairs, qs, epsilon=0.05))
    train = [[f"a bell rings number {i}", f"bell {i % 3} rings"] for i in range(20)]
    loss = RankingLoss(0.2, relax=RELAX)
    loss.prepare(LossContext("toy", {"train": train, "validation": [["wind"]] * 5}, tmp_path))
    evidence = loss.evidence()["cider_thresholds"]
    assert evidence == cached_percentiles(tmp_path) and evidence["values"] == loss.thresholds
    assert evidence["method"] == "sampled" and evidence["pairs"] == pair_quantiles.sample_size(0.05, 0.01)
    assert (evidence["rank_error"], evidence["confidence"], evidence["seed"]) == (5.0, 0.99, 0)
