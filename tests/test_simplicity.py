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


# ---------------------------------------------------------------- bad input: a clear error naming the argument

_NAN = float("nan")
_G = torch.Generator().manual_seed(0)
_Y = torch.tensor([0, 1, 1, 0])
_D = S.generate(20, 10, dim=4, k=3, gamma=0.1, seed=0)
_D_NOISY = S.generate(20, 10, dim=4, k=3, gamma=0.1, reliability=0.8, seed=0)


def _net(d_out=1):
    from widgets.core import models

    return models.mlp(4, d_out, widths=3, seeds=[0, 1])


_BAD_INPUTS = [
    (S.max_gamma, (4,), {}, ValueError, r"k must be one of \(3, 5, 7\)"),
    (S.slab_intervals, (5, 0.3), {}, ValueError, r"gamma must be a finite number in \(0, 0.25\)"),
    (S.slab_intervals, (5, _NAN), {}, ValueError, r"gamma must be a finite number"),
    (S.sample_slab, (torch.tensor([0, 2, 1]), 5, 0.1, _G), {}, ValueError, r"y must hold int64 labels in \{0, 1\}"),
    (S.sample_slab, (torch.tensor([0.0, 1.0]), 5, 0.1, _G), {}, ValueError, r"y must hold int64 labels"),
    (S.sample_slab, (torch.zeros(2, 2, dtype=torch.long), 5, 0.1, _G), {}, ValueError, r"y must have shape \[n\]"),
    (S.sample_slab, (_Y, 5, 0.1, 0), {}, TypeError, r"g must be a torch.Generator"),
    (S.sample_slab, (_Y, 4, 0.1, _G), {}, ValueError, r"k must be one of"),
    (S.sample_linear, (torch.tensor([-1, 1]), 0.1, _G), {}, ValueError, r"y must hold int64 labels in \{0, 1\}"),
    (S.sample_linear, (_Y, 1.0, _G), {}, ValueError, r"gamma must be a finite number in \(0, 1\)"),
    (S.sample_linear, (_Y, 0.1, _G, 0.3), {}, ValueError, r"reliability must be a finite number in \[0.5, 1\]"),
    (S.sample_linear, (_Y, 0.1, "gen"), {}, TypeError, r"g must be a torch.Generator"),
    (S.random_rotation, (0, _G), {}, ValueError, r"d must be an integer in \[1, 100000\]"),
    (S.random_rotation, (3, None), {}, TypeError, r"g must be a torch.Generator"),
    (S.random_rotation, (10**5, _G), {}, ValueError, r"a rotation of 100000 dimensions is too large"),
    (S.generate, (1,), {}, ValueError, r"n_train must be an integer in \[2, 10000000\]"),
    (S.generate, (10,), {"n_test": 1}, ValueError, r"n_test must be an integer in \[2, 10000000\]"),
    (S.generate, (10,), {"dim": 1}, ValueError, r"dim must be an integer in \[2, 10000\]"),
    (S.generate, (10,), {"simple": "quadratic"}, ValueError, r"simple must be one of"),
    (S.generate, (10,), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (S.generate, (10**7,), {"dim": 10**4}, ValueError, r"10005000 points in 10000 dimensions is too large"),
    (S.randomize, (_D.z_test, _D.rotation, []), {}, ValueError, r"coords must have at least 1 entries"),
    (S.randomize, (_D.z_test, _D.rotation, [4]), {}, ValueError, r"coords\[i\] must be an integer in \[0, 3\]"),
    (S.randomize, (_D.z_test, _D.rotation, "0"), {}, TypeError, r"coords must be a list or tuple"),
    (S.randomize, (_D.z_test, _D.rotation[:3], [0]), {}, ValueError, r"rotation must have shape \[4, 4\]"),
    (S.randomize, (_D.z_test[:, 0], _D.rotation, [0]), {}, ValueError, r"z must have shape \[n, d\]"),
    (S.randomize, (_D.z_test, _D.rotation, [0]), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (S.SBParams, (), {"n_train": 1}, ValueError, r"n_train must be an integer in \[2, 10000000\]"),
    (S.SBParams, (), {"n_test": 1}, ValueError, r"n_test must be an integer in \[2, 10000000\]"),
    (S.SBParams, (), {"dim": 1}, ValueError, r"dim must be an integer in \[2, 10000\]"),
    (S.SBParams, (), {"k": 4}, ValueError, r"k must be one of"),
    (S.SBParams, (), {"gamma": 0.3}, ValueError, r"gamma must be a finite number in \(0, 0.25\)"),
    (S.SBParams, (), {"width": 0}, ValueError, r"width must be an integer in \[1, 100000\]"),
    (S.SBParams, (), {"depth": 0}, ValueError, r"depth must be an integer in \[1, 64\]"),
    (S.SBParams, (), {"lr": _NAN}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (S.SBParams, (), {"weight_decay": -1.0}, ValueError, r"weight_decay must be a finite number in \[0, 1\]"),
    (S.SBParams, (), {"batch_size": 0}, ValueError, r"batch_size must be an integer in \[1, 10000\]"),
    (S.SBParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 1000000\]"),
    (S.SBParams, (), {"epochs": 0}, ValueError, r"epochs must be an integer in \[1, 1000000\]"),
    (S.SBParams, (), {"reliability": 0.4}, ValueError, r"reliability must be a finite number in \[0.5, 1\]"),
    (S.SBParams, (), {"noisy_momentum": 1.0}, ValueError, r"noisy_momentum must be a finite number in \[0, 1\)"),
    (S.SBParams, (), {"eps_train": 2.0}, ValueError, r"eps_train must be a finite number in \[0, 1\]"),
    (S.SBParams, (), {"eps_grid": ()}, ValueError, r"eps_grid must have at least 1 entries"),
    (S.SBParams, (), {"eps_grid": (-0.5,)}, ValueError, r"eps_grid\[i\] must be a finite number in \[0, 100\]"),
    (S.SBParams, (), {"grid_ks": (4,)}, ValueError, r"grid_ks\[i\] must be one of \(3, 5, 7\)"),
    (S.SBParams, (), {"grid_gammas": (0.0,)}, ValueError, r"grid_gammas\[i\] must be a finite number in \(0, 1\)"),
    (S.SBParams, (), {"grid_ks": (7,), "grid_gammas": (0.2,)}, ValueError, r"grid_ks × grid_gammas holds no valid"),
    (S.SBParams, (), {"grid_n_train": 1}, ValueError, r"grid_n_train must be an integer in \[2, 10000000\]"),
    (S.SBParams, (), {"grid_res": 1}, ValueError, r"grid_res must be an integer in \[2, 1000\]"),
    (S.SBParams, (), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (S.SBParams().steps, (0,), {}, ValueError, r"n must be an integer in \[1, 100000000\]"),
    (S.SBParams().steps, (100, 0), {}, ValueError, r"epochs must be an integer in \[1, 1000000\]"),
    (S.SBParams, (), {"n_train": 10**7, "dim": 10**4}, ValueError,
     r"\(n_train \+ n_test, or grid sweep\) × dim.* too large"),
    (S.scores, ("net", torch.zeros(3, 4)), {}, TypeError, r"family must be a Family"),
    (S.scores, (_net(2), torch.zeros(3, 4)), {}, ValueError, r"family must have one output"),
    (S.scores, (_net(), torch.zeros(3)), {}, ValueError, r"x must have shape \[n, d\]"),
    (S.scores, (_net(), torch.zeros(3, 4)), {"chunk": 0}, ValueError, r"chunk must be an integer in \[1, inf\]"),
    (S.feature_aucs, (_net(), "data"), {}, TypeError, r"d must be an SBData"),
    (S.feature_aucs, (_net(), _D), {"seed": -1}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (S.accuracy, (_net(), _D.x_test, _D.y_test[:5]), {}, ValueError, r"x and y must hold the same points"),
    (S.accuracy, (_net(), _D.x_test, 2 * _D.y_test - 1), {}, ValueError, r"y must hold int64 labels in \{0, 1\}"),
    (S.accuracy, (_net(), _D.x_test.clone().fill_diagonal_(_NAN), _D.y_test), {}, ValueError,
     r"x must hold only finite"),
    (S.flip_rate, (_net(), _D, [-0.1]), {}, ValueError, r"eps\[i\] must be a finite number in \[0, inf\]"),
    (S.flip_rate, (_net(), _D, "0.1"), {}, TypeError, r"eps must be a list or tuple"),
    (S.flip_rate, (_net(), None, [0.1]), {}, TypeError, r"d must be an SBData"),
    (S.linear_rule_flip_rate, (_D, [_NAN]), {}, ValueError, r"eps\[i\] must be a finite number"),
    (S.linear_rule_flip_rate, (_D_NOISY, [0.1]), {}, ValueError, r"d must be LMS data with a reliable linear"),
    (S.decision_map, (_net(), _D, 1), {}, ValueError, r"res must be an integer in \[2, 1000\]"),
    (S.decision_map, (_net(), _D, 5), {"j": 0}, ValueError, r"j must be an integer in \[1, 3\]"),
    (S.decision_map, (_net(), _D, 5), {"j": 4}, ValueError, r"j must be an integer in \[1, 3\]"),
    (S.decision_map, (_net(), _D, 5), {"n_context": 0}, ValueError, r"n_context must be an integer in \[1, 10\]"),
    (S.DominoParams, (), {"n_test": 5}, ValueError, r"n_test must be an integer in \[6, 10000000\]"),
    (S.DominoParams, (), {"bar": 9}, ValueError, r"bar must be an integer in \[2, 8\]"),
    (S.DominoParams, (), {"noise": -0.1}, ValueError, r"noise must be a finite number in \[0, 10\]"),
    (S.DominoParams, (), {"channels": 0}, ValueError, r"channels must be an integer in \[1, 10000\]"),
    (S.DominoParams, (), {"q": 0}, ValueError, r"q must be an integer in \[1, 128\]"),
    (S.DominoParams, (), {"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, 10\]"),
    (S.DominoParams, (), {"batch_size": 5000}, ValueError, r"batch_size must be an integer in \[1, 4000\]"),
    (S.DominoParams, (), {"epochs": 0}, ValueError, r"epochs must be an integer in \[1, 100000\]"),
    (S.DominoParams, (), {"seeds": 0}, ValueError, r"seeds must be an integer in \[1, 10000\]"),
    (S.DominoParams, (), {"channels": 10**4, "batch_size": 4000}, ValueError,
     r"\(n_train \+ n_test\) × 128; seeds × channels × depth × batch_size is too large"),
    (S.bars, (torch.tensor([0, 3]), 3, 0.1, _G), {}, ValueError, r"y must hold int64 labels in \{0, 1\}"),
    (S.bars, (_Y, 1, 0.1, _G), {}, ValueError, r"bar must be an integer in \[2, 8\]"),
    (S.bars, (_Y, 3, _NAN, _G), {}, ValueError, r"noise must be a finite number in \[0, 10\]"),
    (S.bars, (_Y, 3, 0.1, 1), {}, TypeError, r"g must be a torch.Generator"),
    (S.dominoes, (0, 10), {}, ValueError, r"n_train must be an integer in \[1, 10000000\]"),
    (S.dominoes, (10, 0), {}, ValueError, r"n_test must be an integer in \[1, 10000000\]"),
    (S.dominoes, (10, 10), {"bar": 0}, ValueError, r"bar must be an integer in \[2, 8\]"),
    (S.dominoes, (10, 10), {"seed": -2}, ValueError, r"seed must be an integer in \[0, inf\]"),
    (S.shuffle_block, (torch.zeros(3, 4), torch.tensor([0, 1, 1]), 0), {}, ValueError,
     r"block must be \[4\] \(one entry per pixel of x\)"),
    (S.shuffle_block, (torch.zeros(3, 4), torch.tensor([0, 1, 2, 1]), 0), {}, ValueError, r"block must be \[4\]"),
    (S.shuffle_block, (torch.zeros(3, 4), torch.tensor([0, 1, 1, 1]), 2), {}, ValueError,
     r"which must be an integer in \[0, 1\]"),
    (S.shuffle_block, (torch.zeros(3), torch.tensor([0, 1, 1]), 0), {}, ValueError, r"x must have shape \[n, D\]"),
    (S.explore, (), {"k": 4}, ValueError, r"k must be one of"),
    (S.explore, (), {"optimizer": "lbfgs"}, ValueError, r"optimizer must be one of \('sgd', 'adam'\)"),
    (S.explore, (), {"reliability": 2.0}, ValueError, r"reliability must be a finite number in \[0.5, 1\]"),
    (S.explore, (), {"device": "bogus"}, ValueError, r"device must name a device"),
    (S.explore, (), {"n_train": 100, "width": 0}, ValueError, r"width must be an integer in \[1, 100000\]"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
