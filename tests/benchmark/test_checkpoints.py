"""Best-k checkpoint selection: lower val_loss and higher m1/m2 are better; ties go to the
earlier epoch; an epoch leaves when k better ones arrive for every monitor."""

from benchmark.checkpoints import Best


def test_each_monitor_keeps_its_best_k_in_its_own_direction():
    best = Best(["val_loss", "m1"], keep=2)
    history = {1: (3.0, 0.2), 2: (2.0, 0.1), 3: (2.5, 0.6), 4: (1.0, 0.3)}
    dropped = [best.add(epoch, {"val_loss": loss, "m1": m1}) for epoch, (loss, m1) in history.items()]
    assert best.ranked["val_loss"] == [(1.0, 4), (2.0, 2)]  # lowest first
    assert best.ranked["m1"] == [(0.6, 3), (0.3, 4)]  # highest first
    assert best.selected("val_loss") == (1.0, 4) and best.selected("m1") == (0.6, 3)
    assert best.kept() == {2, 3, 4}
    # Epoch 1 stays while it is among some monitor's best two; epoch 4 displaces it.
    assert dropped == [set(), set(), set(), {1}]


def test_ties_keep_the_earlier_epoch():
    best = Best(["m2"], keep=1)
    assert best.add(1, {"m2": 0.5}) == set()
    assert best.add(2, {"m2": 0.5}) == set()  # the tie does not displace epoch 1, nor enter
    assert best.selected("m2") == (0.5, 1) and best.kept() == {1}
    assert best.add(3, {"m2": 0.7}) == {1} and best.selected("m2") == (0.7, 3)
