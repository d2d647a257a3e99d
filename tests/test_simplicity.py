import pytest
import torch

from widgets import simplicity as S


def slab_label(z: torch.Tensor, k: int, gamma: float) -> torch.Tensor:
    """Label of the slab each value falls in (independent of the generator: nearest slab by its edges);
    −1 for a value in a gap."""
    edges = S.slab_intervals(k, gamma)
    inside = (z[:, None] >= edges[:, 0]) & (z[:, None] <= edges[:, 1])
    lab = (torch.arange(k) - k // 2).remainder(2)
    return torch.where(inside.any(1), lab[inside.float().argmax(1)], torch.tensor(-1))


@pytest.mark.parametrize("k, gamma", [(3, 0.1), (5, 0.1), (5, 0.02), (7, 0.15)])
def test_slab_geometry_matches_the_paper(k, gamma):
    """k slabs of width (2 − 2(k−1)γ)/k, gaps 2γ, covering [−1, 1] exactly, symmetric about 0."""
    e = S.slab_intervals(k, gamma).double()
    w = (2 - 2 * (k - 1) * gamma) / k
    assert torch.allclose(e[:, 1] - e[:, 0], torch.full((k,), w, dtype=torch.float64))
    assert torch.allclose(e[1:, 0] - e[:-1, 1], torch.full((k - 1,), 2 * gamma, dtype=torch.float64))
    assert e[0, 0] == pytest.approx(-1) and e[-1, 1] == pytest.approx(1)
    assert torch.allclose(e, -e.flip(0)[:, [1, 0]])


@pytest.mark.parametrize("k", [3, 5, 7])
def test_each_slab_coordinate_alone_is_fully_predictive(k):
    d = S.generate(3000, 500, dim=6, k=k, gamma=0.1, seed=1)
    for j in range(1, 6):
        assert torch.equal(slab_label(d.z_train[:, j], k, 0.1), d.y_train), f"slab coordinate {j}"
    assert torch.equal((d.z_train[:, 0] > 0).long(), d.y_train)  # the linear coordinate too
    assert (d.z_train[:, 0].abs() >= 0.1).all()  # its margin


def test_noisy_linear_is_right_for_exactly_the_reliability_fraction():
    d = S.generate(4000, 1000, dim=4, k=5, gamma=0.1, reliability=0.9, seed=2)
    z, y = torch.cat([d.z_train, d.z_test]), torch.cat([d.y_train, d.y_test])
    assert ((z[:, 0] > 0).long() == y).double().mean().item() == pytest.approx(0.9, abs=1e-9)
    assert torch.equal(slab_label(z[:, 1], 5, 0.1), y)  # slabs stay perfect


def test_ms57_has_a_5_slab_then_7_slabs():
    d = S.generate(2000, 200, dim=4, k=7, gamma=0.05, simple="slab5", seed=3)
    assert torch.equal(slab_label(d.z_train[:, 0], 5, 0.05), d.y_train)
    for j in (1, 2, 3):
        assert torch.equal(slab_label(d.z_train[:, j], 7, 0.05), d.y_train)


@pytest.mark.parametrize("k", [5, 7])
def test_class_conditional_second_moments_are_equal(k):
    """The authors' slab probabilities make E[z_j² | y] equal; check against the exact mixture integral."""
    e = S.slab_intervals(k, 0.08).double()
    m2 = (e[:, 1] ** 3 - e[:, 0] ** 3) / (3 * (e[:, 1] - e[:, 0]))  # E[z²] on each slab
    probs = S._SLAB_PROBS[k]
    exact = [float(sum(p * m2[k // 2 + j] for j, p in probs[c].items())) for c in (0, 1)]
    assert exact[0] == pytest.approx(exact[1], abs=1e-12)
    d = S.generate(40000, 2, dim=3, k=k, gamma=0.08, seed=4)
    for c in (0, 1):
        emp = (d.z_train[d.y_train == c, 1:] ** 2).mean().item()
        assert emp == pytest.approx(float(exact[c]), abs=0.01)


def test_rotation_is_orthogonal_and_keeps_labels_and_norms():
    d = S.generate(500, 100, dim=20, k=5, gamma=0.1, seed=5)
    Q = d.rotation
    assert torch.allclose(Q @ Q.T, torch.eye(20, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(d.x_train.double(), d.z_train @ Q, atol=1e-6)
    assert torch.allclose(d.x_train.double().norm(dim=1), d.z_train.norm(dim=1), atol=1e-5)
    # rotating back recovers a dataset whose coordinates predict the labels
    back = d.x_train.double() @ Q.T
    assert torch.equal((back[:, 0] > 0).long(), d.y_train)
    assert torch.equal(slab_label(back[:, 3], 5, 0.1), d.y_train)
    # no input axis of the rotated data is the linear feature
    assert Q[0].abs().max() < 0.9
    plain = S.generate(500, 100, dim=20, k=5, gamma=0.1, seed=5, rotate=False)
    assert torch.equal(plain.x_train.double(), plain.z_train.float().double())


def test_randomize_destroys_only_the_chosen_feature():
    d = S.generate(4000, 4000, dim=5, k=5, gamma=0.1, seed=6)
    x = S.randomize(d.z_test, d.rotation, [0], seed=1)
    z = x.double() @ d.rotation.T
    assert torch.allclose(z[:, 1:], d.z_test[:, 1:], atol=1e-5)  # slabs untouched
    assert sorted(z[:, 0].tolist()) == pytest.approx(sorted(d.z_test[:, 0].tolist()), abs=1e-5)  # same marginal
    assert abs(((z[:, 0] > 0).long() == d.y_test).double().mean().item() - 0.5) < 0.03  # no information left
    with pytest.raises(ValueError, match="coords"):
        S.randomize(d.z_test, d.rotation, [5])


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 4}, "k must be one of"),
    ({"k": 9}, "k must be one of"),
    ({"gamma": 0.0}, "gamma"),
    ({"gamma": 0.25}, "gamma"),  # 5 slabs need γ < 1/4
    ({"k": 7, "gamma": 0.17}, "gamma"),
    ({"dim": 1}, "dim"),
    ({"dim": 2.5}, "dim"),
    ({"n_train": 1}, "n_train"),
    ({"reliability": 0.4}, "reliability"),
    ({"simple": "quadratic"}, "simple"),
    ({"simple": "slab5", "k": 5}, "k must be 7"),
])
def test_bad_arguments_raise(kwargs, match):
    args = {"n_train": 100, "n_test": 10, "dim": 5} | kwargs
    with pytest.raises(ValueError, match=match):
        S.generate(**args)


def test_flip_rate_of_an_exact_linear_rule_matches_the_closed_form():
    """A one-member 'family' computing z_0 = x·q exactly must follow the closed form."""
    from widgets.core import models

    d = S.generate(10, 20000, dim=30, k=5, gamma=0.1, seed=7)
    fam = models.mlp(30, 1, widths=1, seeds=[0], depth=1, act="identity")
    with torch.no_grad():
        fam.params[0].copy_(d.rotation[0].float()[None, :, None])
        fam.params[1].zero_()
    eps = torch.tensor([0.0, 0.05, 0.1, 0.2])
    assert torch.allclose(S.flip_rate(fam, d, eps)[:, 0], S.linear_rule_flip_rate(d, eps), atol=0.015)


def test_lms5_network_ignores_the_slabs():
    """A small end-to-end run: clean AUC ≈ 1, linear-randomized ≈ 0.5, slabs-randomized ≈ 1."""
    torch.manual_seed(0)
    p = S.SBParams(n_train=20_000, n_test=2000, seeds=1, epochs=2)
    r = S.extreme_sb(p)
    assert (r["clean"] > 0.98).all()
    assert ((r["linear_randomized"] - 0.5).abs() < 0.06).all()
    assert (r["slabs_randomized"] > 0.98).all()


def test_dominoes_blocks_each_predict_the_label():
    p = S.DominoParams(n_train=400, n_test=200)
    dm = S.dominoes(p.n_train, p.n_test, bar=p.bar, noise=p.noise, seed=p.seed)
    x, y, block = dm["x_train"], dm["y_train"], dm["block"]
    assert x.shape == (400, 128) and block.sum() == 64
    tex = x[:, block == 1].reshape(-1, 8, 8)
    # undo the standardization's shift/scale sign-free: the bar is where the texture is brightest
    rows_hit = (tex > tex.mean() + 2 * tex.std()).sum(2).amax(1)  # max bar pixels in one row
    assert torch.equal((rows_hit >= 3).long(), y)  # horizontal bar ⇔ class 1
    shuffled = S.shuffle_block(x, block, 1, seed=0)
    assert torch.equal(shuffled[:, block == 0], x[:, block == 0])
    assert not torch.equal(shuffled[:, block == 1], x[:, block == 1])
