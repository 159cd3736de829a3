import numpy as np
import pytest
import torch

from benchmark.cache import EmbeddingCache
from benchmark.model import ClipInputs


def inputs(tmp_path, name, n, value):
    store = EmbeddingCache(tmp_path, "experts", "toy", {"part": name}).get_or_compute(
        [f"{name}{i}" for i in range(n)], lambda idx: [np.full((i % 3 + 1, 2), value + i, np.float32) for i in idx]
    )
    return ClipInputs([store], [(f"{name} {i}",) for i in range(n)], None)


def test_concatenated_inputs_index_through_the_parts_with_equal_frequency(tmp_path):
    small, large = inputs(tmp_path, "small", 2, 100), inputs(tmp_path, "large", 6, 200)
    both = ClipInputs.concatenate([small, large], equal_frequency=True)
    assert len(both) == 8 and both.captions[2] == ("large 0",)
    np.testing.assert_array_equal(both.audio[0][3], np.full((2, 2), 201))
    frames, lengths = both.audio[0].batch([1, 7])
    assert lengths.tolist() == [2, 3] and frames[1, 0, 0] == 205
    weights = both.sampling_weights
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:2].sum() == pytest.approx(0.5) and weights[2:].sum() == pytest.approx(0.5)  # half the draws each
    audio, _ = both.audio_batch([0, 7], torch.device("cpu"))[0]
    assert audio.shape == (2, 3, 2)


# -- clips with different numbers of captions ------------------------------------------------

from benchmark.api import LossInput  # noqa: E402
from benchmark.model import CaptionLayout, gather_rows  # noqa: E402

COUNTS = [1, 3, 5, 3]  # captions of each clip of the batch


def own_means(flat, counts):
    """``s_ij`` computed here: audio ``i``'s mean over clip ``j``'s own captions, by slices."""
    starts = np.cumsum([0, *counts])
    return torch.stack([flat[:, starts[j] : starts[j + 1]].mean(dim=1) for j in range(len(counts))], dim=1)


def test_clip_similarity_is_the_mean_over_each_clips_own_captions_and_padding_never_counts():
    torch.manual_seed(0)
    flat = torch.rand(4, sum(COUNTS)) * 2 - 1  # audio i against every caption of the batch, clip by clip
    sim, mask = CaptionLayout(np.array(COUNTS)).per_clip(flat)
    assert sim.shape == (4, 4, 5) and mask.sum(dim=1).tolist() == COUNTS
    expected = own_means(flat, COUNTS)
    torch.testing.assert_close(LossInput(sim, torch.arange(4), mask=mask).clip_similarity(), expected)
    # A padded slot holds s_ij, so a loss that averages the last axis without the mask is exact too.
    torch.testing.assert_close(sim.mean(dim=-1), expected)
    # Whatever the padded slots hold, s_ij does not change.
    garbage = sim.masked_fill(~mask, 1e6)
    torch.testing.assert_close(LossInput(garbage, torch.arange(4), mask=mask).clip_similarity(), expected)
    # Caption k of clip j is the batch's caption at its place in the flat axis.
    assert sim[2, 3, 2] == flat[2, 1 + 3 + 5 + 2] and sim[1, 2, 4] == flat[1, 1 + 3 + 4]


def test_equal_counts_are_a_plain_view_with_no_mask():
    flat = torch.rand(3, 15)
    sim, mask = CaptionLayout(np.array([5, 5, 5])).per_clip(flat)
    assert mask is None and torch.equal(sim, flat.view(3, 3, 5))
    assert torch.equal(LossInput(sim, torch.arange(3)).caption_mask(), torch.ones(3, 5, dtype=torch.bool))


def test_gradients_reach_each_real_caption_once_through_s_ij():
    flat = torch.rand(4, sum(COUNTS), requires_grad=True)
    sim, mask = CaptionLayout(np.array(COUNTS)).per_clip(flat)
    LossInput(sim, torch.arange(4), mask=mask).clip_similarity().sum().backward()
    per_caption = torch.tensor([1 / c for c in COUNTS for _ in range(c)])
    torch.testing.assert_close(flat.grad, per_caption.expand(4, -1))


def test_a_batch_takes_every_caption_of_each_clip(tmp_path):
    store = EmbeddingCache(tmp_path, "text", "toy", {}).get_or_compute(
        [f"c{i}" for i in range(4)], lambda idx: [np.full((COUNTS[i], 2), i, np.float32) for i in idx]
    )
    captions = [tuple(f"clip {i} caption {k}" for k in range(c)) for i, c in enumerate(COUNTS)]
    data = ClipInputs([], captions, store)
    assert data.caption_counts.tolist() == COUNTS
    assert data.layout([3, 0, 2]).counts.tolist() == [3, 1, 5]
    assert data.text_batch([2, 0], torch.device("cpu"))[:, 0].tolist() == [2] * 5 + [0]
    strings = ClipInputs([], captions, None).text_batch([1, 0], torch.device("cpu"))
    assert strings == ["clip 1 caption 0", "clip 1 caption 1", "clip 1 caption 2", "clip 0 caption 0"]
    assert CaptionLayout(np.array([1, 3, 5, 3])).rank_rows(2) == [4, 8]


def gathered_on_rank(rank, root, port):
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        rows = [2, 5]
        mine = torch.full((rows[rank], 3), float(rank + 1), requires_grad=True)
        gathered = gather_rows(mine, rows)
        weights = torch.arange(gathered.shape[0], dtype=torch.float32)[:, None]
        (gathered * weights).sum().backward()  # every rank computes the same global sum
        torch.save({"gathered": gathered.detach(), "grad": mine.grad}, root / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ranks_holding_different_numbers_of_captions_gather_them_all_in_rank_order(tmp_path):
    import torch.multiprocessing as mp

    from tests.benchmark.test_distributed import free_port

    mp.spawn(gathered_on_rank, args=(tmp_path, free_port()), nprocs=2, join=True)
    expected = torch.tensor([1.0] * 2 + [2.0] * 5)[:, None].expand(7, 3)
    for rank, (start, stop) in enumerate([(0, 2), (2, 7)]):
        saved = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.equal(saved["gathered"], expected)
        # Each rank's rows get the gradient of their own places (summed over the 2 ranks), padding none.
        torch.testing.assert_close(saved["grad"], 2 * torch.arange(start, stop, dtype=torch.float32)[:, None].expand(-1, 3))
