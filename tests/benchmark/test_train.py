import numpy as np
import pytest
import torch

from benchmark.cache import EmbeddingCache
from benchmark.config import DEFAULTS, merge
from benchmark.errors import BenchError
from benchmark.model import ClipInputs, RetrievalModel
from benchmark.context import RunContext
from benchmark.distributed import Context
from benchmark.plugins import get_plugin_manager
from benchmark.train import Stage, Trainer, batch_accuracy
from bench_plugins.fusions.mean import MeanFusion
from bench_plugins.heads.pooling import MeanPoolHead
from bench_plugins.losses.ranking import RankingLoss


def test_batch_accuracy_m1_is_text_to_audio_and_m2_audio_to_text():
    s = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.0], [0.0, 0.0, 0.3]])  # audio i, captions of clip j
    m1, m2 = batch_accuracy(s)
    assert m1 == pytest.approx(3 / 3)  # each clip's captions find their own audio first (columns)
    assert m2 == pytest.approx(2 / 3)  # audio 1 prefers clip 0's captions (0.8 > 0.5)


def clip_inputs(tmp_path, name, n, seed):
    """Clips whose single expert frame is a noisy copy of their caption embedding."""
    rng = np.random.default_rng(seed)
    text = rng.standard_normal((n, 2, 8)).astype(np.float32)
    ids = [f"{name}{i}" for i in range(n)]
    audio = EmbeddingCache(tmp_path, "experts", "toy", {"split": name}).get_or_compute(
        ids, lambda idx: [text[i, :1] + 0.1 * rng.standard_normal((3, 8)).astype(np.float32) for i in idx]
    )
    store = EmbeddingCache(tmp_path, "text", "toy", {"split": name}).get_or_compute(ids, lambda idx: [text[i] for i in idx])
    return ClipInputs([audio], [("a", "b")] * n, store)


class FailAfter(RankingLoss):
    """A ranking loss that fails (NaN, or Ctrl-C) from the given training call on."""

    def __init__(self, after, interrupt=False):
        super().__init__()
        self.calls, self.after, self.interrupt = 0, after, interrupt

    def forward(self, batch):
        self.calls += self.training
        loss = super().forward(batch)
        if self.training and self.calls > self.after:
            if self.interrupt:
                raise KeyboardInterrupt
            return loss * float("nan")
        return loss


def make_trainer(tmp_path, loss, epochs=3):
    torch.manual_seed(0)
    model = RetrievalModel([MeanPoolHead(8, 8, hidden_dim=16, dropout=0.0)], MeanFusion(1, 8), None)
    config = merge(DEFAULTS, {"batch_size": 16, "schedule": {"epochs": epochs, "steps_per_epoch": 4}, "optimizer": {"lr": 1e-2}})
    train, val = clip_inputs(tmp_path, "train", 32, 0), clip_inputs(tmp_path, "val", 16, 1)
    ctx = RunContext(get_plugin_manager(), torch.device("cpu"), 0, tmp_path, tmp_path, Context(), print)
    return Trainer(model, loss, config, Stage(train, val, tmp_path / "run", epochs), ctx)


def test_training_improves_validation_and_keeps_the_selected_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, RankingLoss(), epochs=4)
    selected = trainer.fit()
    losses = [h["val_loss"] for h in trainer.history]
    assert losses[-1] < losses[0]
    assert selected.monitor == "val_loss" and selected.value == min(losses)
    assert selected.path.is_file() and (tmp_path / "run" / "last.pt").is_file()
    assert all(0.0 < h["data_share"] < 1.0 for h in trainer.history)  # time waiting on batches, recorded


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        make_trainer(tmp_path, FailAfter(after=9, interrupt=True), epochs=4).fit()  # Ctrl-C in epoch 3
    counting = FailAfter(after=10**9)
    resumed = make_trainer(tmp_path, counting, epochs=4)
    resumed.fit()
    assert counting.calls == 2 * 4  # only epochs 3 and 4 were trained again
    straight = make_trainer(tmp_path / "other", RankingLoss(), epochs=4)
    straight.fit()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[-1]["val_loss"] == pytest.approx(straight.history[-1]["val_loss"], rel=1e-5)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, FailAfter(after=6), epochs=3)  # NaN in epoch 2
    with pytest.raises(BenchError, match="loss became nan at epoch 2, step 3"):
        trainer.fit()
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["epoch"] == 1


def test_the_best_k_checkpoints_of_each_monitored_metric_are_kept(tmp_path):
    trainer = make_trainer(tmp_path, RankingLoss(), epochs=6)
    trainer.checkpoints = {"monitor": ["val_loss", "m1", "m2"], "select": "m1", "keep": 3}
    selected = trainer.fit()
    history = trainer.history
    expected = set()
    for metric, sign in (("val_loss", 1), ("m1", -1), ("m2", -1)):
        ranked = sorted(history, key=lambda h: (sign * h[metric], h["epoch"]))
        expected |= {h["epoch"] for h in ranked[:3]}
    kept = {int(p.stem.split("-")[1]) for p in (tmp_path / "run").glob("epoch-*.pt")}
    assert kept == expected
    best_m1 = max(h["m1"] for h in history)
    assert selected.monitor == "m1" and selected.value == best_m1 and selected.epoch in kept


def test_pruning_deletes_only_the_checkpoints_bench_displaced(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    theirs = [run / "epoch-best-copy.pt", run / "epoch-0099.pt", run / "notes.txt"]
    for path in theirs:
        path.write_text("the user's")
    trainer = make_trainer(tmp_path, RankingLoss(), epochs=4)
    trainer.checkpoints = {"monitor": ["val_loss"], "select": "val_loss", "keep": 1}
    selected = trainer.fit()
    assert all(path.read_text() == "the user's" for path in theirs)
    assert sorted(p.name for p in run.glob("epoch-0*.pt")) == sorted({selected.path.name, "epoch-0099.pt"})


def test_the_loss_scale_is_saved_in_last_pt_and_restored_on_resume(tmp_path):
    """Mixed precision (CUDA only here) keeps a loss scale; an enabled CPU GradScaler whose
    scale doubles every step stands in for it, so its state is not empty."""

    def scaled(trainer):
        trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
        return trainer

    with pytest.raises(KeyboardInterrupt):
        scaled(make_trainer(tmp_path, FailAfter(after=9, interrupt=True), epochs=4)).fit()  # Ctrl-C in epoch 3
    last = tmp_path / "run" / "last.pt"
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 2 and saved["scaler"]["scale"] == 1024.0 * 2**8  # 8 steps
    resumed = scaled(make_trainer(tmp_path, RankingLoss(), epochs=4))
    assert resumed._resume().epoch == 2 and resumed.scaler.state_dict() == saved["scaler"]
    del saved["scaler"]  # a last.pt written before the scaler was saved still resumes
    torch.save(saved, last)
    older = scaled(make_trainer(tmp_path, RankingLoss(), epochs=4))
    assert older._resume().epoch == 2 and older.scaler.get_scale() == 1024.0
    # Without mixed precision (CPU) the saved state is empty and resuming leaves it so.
    plain = make_trainer(tmp_path / "plain", RankingLoss(), epochs=1)
    plain.fit()
    assert torch.load(tmp_path / "plain" / "run" / "last.pt", weights_only=True)["scaler"] == {}


def test_a_single_process_seeds_each_epoch_as_before(tmp_path):
    """Dropout masks of a single process (rank 0) are unchanged by the per-rank seeding."""
    from benchmark.train import epoch_seed

    seeds = []

    class Recording(RankingLoss):
        def forward(self, batch):
            if self.training:
                seeds.append(torch.initial_seed())
            return super().forward(batch)

    make_trainer(tmp_path, Recording(), epochs=2).fit()  # seed 0, 4 steps an epoch
    assert seeds == [1] * 4 + [2] * 4
    assert epoch_seed(7, 3, 0) == 7 * 100_003 + 3
    others = {epoch_seed(7, epoch, rank) for epoch in (1, 2) for rank in (1, 2, 3)}
    assert len(others) == 6 and not others & {epoch_seed(7, epoch, 0) for epoch in range(1, 100)}


# -- clips with different numbers of captions ------------------------------------------------

from benchmark.api import LossInput  # noqa: E402
from bench_plugins.losses.infonce import InfoNCELoss  # noqa: E402


def counted_inputs(tmp_path, name, counts, seed):
    """Clips with ``counts[i]`` captions each, whose single expert frame is near their first caption."""
    rng = np.random.default_rng(seed)
    text = [rng.standard_normal((c, 8)).astype(np.float32) for c in counts]
    near = [t[:1] if len(t) else np.zeros((1, 8), np.float32) for t in text]
    ids = [f"{name}{i}" for i in range(len(counts))]
    audio = EmbeddingCache(tmp_path, "experts", "toy", {"split": name}).get_or_compute(
        ids, lambda idx: [near[i] + 0.5 * rng.standard_normal((3, 8)).astype(np.float32) for i in idx]
    )
    store = EmbeddingCache(tmp_path, "text", "toy", {"split": name}).get_or_compute(ids, lambda idx: [text[i] for i in idx])
    return ClipInputs([audio], [tuple(f"{name} {i} caption {k}" for k in range(c)) for i, c in enumerate(counts)], store)


def counted_trainer(tmp_path, loss, train_counts, val_counts, batch_size=16, context=Context()):
    torch.manual_seed(0)
    model = RetrievalModel([MeanPoolHead(8, 8, hidden_dim=16, dropout=0.0)], MeanFusion(1, 8), None)
    config = merge(DEFAULTS, {"batch_size": batch_size, "schedule": {"epochs": 1, "steps_per_epoch": 2}})
    train = counted_inputs(tmp_path, "train", train_counts, 0)
    val = counted_inputs(tmp_path, "val", val_counts, 1)
    ctx = RunContext(get_plugin_manager(), torch.device("cpu"), 0, tmp_path, tmp_path, context, print)
    return Trainer(model, loss, config, Stage(train, val, tmp_path / "run", 1), ctx)


def by_hand(trainer, data, indices):
    """``s_ij`` of the clips ``indices``, each clip's own captions averaged here, one clip at a time."""
    with torch.no_grad():
        audio = torch.cat(trainer.model.audio_vectors(data.audio_batch(indices, torch.device("cpu"))))
        rows = []
        for i in range(len(indices)):
            row = [trainer.model.fusion([audio[i : i + 1]], torch.tensor(data.text[j])).mean() for j in indices]
            rows.append(torch.stack(row))
    return torch.stack(rows)


def ranking_by_hand(s, margin=0.2):
    b = len(s)
    return sum(max(0.0, margin + s[i][j] - s[i][i]) + max(0.0, margin + s[j][i] - s[i][i])
               for i in range(b) for j in range(b) if i != j) / b


def test_validation_averages_each_clips_own_1_3_or_5_captions(tmp_path):
    val_counts = [1, 3, 5, 5, 1, 3, 5, 1]
    trainer = counted_trainer(tmp_path, RankingLoss(), [1, 3, 5] * 8, val_counts)
    seen = []
    trainer.loss.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    metrics = trainer.validate()
    s = by_hand(trainer, trainer.val_data, np.arange(8))
    (inputs,) = seen
    assert inputs.similarity.shape == (8, 8, 5) and inputs.mask.sum(dim=1).tolist() == val_counts
    torch.testing.assert_close(inputs.clip_similarity(), s)
    assert metrics["val_loss"] == pytest.approx(ranking_by_hand(s.tolist()), rel=1e-5)
    m1, m2 = batch_accuracy(s)
    assert (metrics["m1"], metrics["m2"]) == pytest.approx((m1, m2))
    assert 0 < m1 < 1 or 0 < m2 < 1  # the example ranks some clips wrongly, so the accuracies say something


def test_a_training_step_averages_each_clips_own_captions(tmp_path):
    trainer = counted_trainer(tmp_path, RankingLoss(), [1, 3, 5] * 8, [5] * 8)
    indices = np.array([0, 1, 2, 4, 5, 9])  # 1, 3, 5, 3, 5 and 1 captions
    loss = trainer.training_loss(trainer._batch(trainer.train_data, indices), indices)
    trainer.model.eval()  # no dropout in this model: the same similarities
    assert loss.item() == pytest.approx(ranking_by_hand(by_hand(trainer, trainer.train_data, indices).tolist()), rel=1e-5)


def test_validation_clips_keep_their_five_captions_when_training_clips_have_one(tmp_path):
    """AudioCaps: one caption per training clip, five per validation clip. Validation used to be
    cut to the fewest captions of any clip of either split, one here."""
    trainer = counted_trainer(tmp_path, InfoNCELoss(learn_temperature=False), [1] * 24, [5] * 8)
    seen = []
    trainer.loss.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    metrics = trainer.validate()
    (inputs,) = seen
    assert inputs.similarity.shape == (8, 8, 5) and inputs.mask is None
    s = torch.stack([torch.stack([by_hand_pair(trainer, i, j) for j in range(8)]) for i in range(8)])  # [audio, clip, k]
    expected = InfoNCELoss(learn_temperature=False)(LossInput(s, torch.arange(8)))
    assert metrics["val_loss"] == pytest.approx(expected.item(), rel=1e-5)
    trainer.fit()  # and training on the single captions runs
    assert trainer.history[0]["val_loss"] > 0


def by_hand_pair(trainer, i, j):
    """Audio ``i`` against each of validation clip ``j``'s captions."""
    data = trainer.val_data
    with torch.no_grad():
        audio = trainer.model.audio_vectors(data.audio_batch([i], torch.device("cpu")))
        return trainer.model.fusion(audio, torch.tensor(data.text[j]))[0]


def test_a_clip_without_captions_is_named(tmp_path):
    with pytest.raises(BenchError, match="clip 2 of the validation split has no caption"):
        counted_trainer(tmp_path, RankingLoss(), [1] * 8, [5, 5, 0, 5])


def mixed_step(root, context):
    """Loss and gradients of one training step on a global batch whose two halves hold 6 and
    12 captions, on one process or as rank ``context.rank`` of two."""
    trainer = counted_trainer(root, InfoNCELoss(), [1, 3, 5] * 8, [5] * 4, batch_size=6, context=context)
    indices = np.array([0, 3, 6, 2, 5, 8])  # 1 + 1 + 1 captions on rank 0, 5 + 5 + 5 on rank 1
    value = trainer.training_loss(trainer._batch(trainer.train_data, indices[trainer.local]), indices)
    value.backward()
    named = [*trainer.model.named_parameters(), *trainer.loss.named_parameters()]
    return value.item(), {name: p.grad.clone() for name, p in named if p.grad is not None}


def mixed_worker(rank, root, port):
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        value, grads = mixed_step(root / f"rank{rank}", Context(rank, 2, rank))
        torch.save({"loss": value, "grads": grads}, root / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ranks_whose_clips_hold_different_numbers_of_captions_match_one_process(tmp_path):
    import torch.multiprocessing as mp

    from tests.benchmark.test_distributed import free_port

    single_loss, single_grads = mixed_step(tmp_path / "single", Context())
    mp.spawn(mixed_worker, args=(tmp_path, free_port()), nprocs=2, join=True)
    for rank in range(2):
        saved = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert saved["loss"] == pytest.approx(single_loss, abs=1e-5)
        assert set(saved["grads"]) == set(single_grads)
        for name, grad in single_grads.items():
            torch.testing.assert_close(saved["grads"][name], grad, atol=1e-5, rtol=1e-4, msg=name)
