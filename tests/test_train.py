from dataclasses import replace

import pytest
import torch
from reference_nets import flat_loss, tiny_family

from widgets.core import data, hooks, models, probes, train
from widgets.core.losses import member_losses


def regression(n=40, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sin(x.sum(1))
    return data.Dataset(x[:30], y[:30], x[30:], y[30:])


def classification(n=60, d=4, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    return data.Dataset(x[:40], y[:40], x[40:], y[40:], n_classes=c)


CASES = [
    ("mse", "gd", {}, None),
    ("mse", "sgd", {"momentum": 0.9}, 8),
    ("cross_entropy", "adam", {}, None),
    ("cross_entropy", "sgd", {"momentum": 0.5}, 16),
    ("logistic", "adam", {}, 10),
]


@pytest.mark.parametrize("loss, opt, extra, batch", CASES)
def test_each_member_equals_training_it_alone(loss, opt, extra, batch):
    """Widths, seeds, learning rates and weight decays all differ; the family must match lone runs."""
    ds = classification() if loss == "cross_entropy" else regression()
    if loss == "logistic":
        ds = data.Dataset(ds.x_train, torch.sign(ds.y_train), ds.x_test, torch.sign(ds.y_test))
    d_out = 3 if loss == "cross_entropy" else 1
    widths, seeds = [5, 17, 9], [0, 1, 2]
    lrs, wds = [0.05, 0.02, 0.01], [0.0, 1e-2, 1e-3]
    if opt == "adam":
        lrs = [1e-2, 3e-3, 1e-3]
    fam = models.mlp(ds.x_train.shape[1], d_out, widths=widths, seeds=seeds, depth=3, act="tanh",
                     dtype=torch.float64)
    res = train.train(fam, ds, steps=25, lr=lrs, weight_decay=wds, loss=loss, optimizer=opt, batch_size=batch,
                      records=6, **extra)
    for k in range(3):
        lone = models.mlp(ds.x_train.shape[1], d_out, widths=widths[k], seeds=seeds[k], depth=3, act="tanh",
                          dtype=torch.float64)
        r1 = train.train(lone, ds, steps=25, lr=lrs[k], weight_decay=wds[k], loss=loss, optimizer=opt,
                         batch_size=batch, records=6, **extra)
        assert torch.allclose(res.train_loss[:, k], r1.train_loss[:, 0], rtol=1e-10, atol=1e-12)
        assert torch.allclose(res.test_loss[:, k], r1.test_loss[:, 0], rtol=1e-10, atol=1e-12)
        trimmed = fam.member(k)
        for a, b in zip(trimmed.params, lone.params, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    # padded entries never move
    for p, m in zip(fam.params, fam.masks, strict=True):
        assert (p.detach()[m == 0] == 0).all()


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_optimizers_match_torch_optim(opt):
    """An independent reference: the same network as an nn.Module under torch.optim (AdamW / SGD)."""
    ds = regression()
    fam = models.mlp(3, 1, widths=12, seeds=7, depth=3, act="tanh", dtype=torch.float64)
    net = models.to_module(fam, 0)
    if opt == "adam":
        o = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.1)
        kw = {"lr": 1e-2, "weight_decay": 0.1, "optimizer": "adam"}
    else:
        o = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
        kw = {"lr": 0.05, "weight_decay": 0.01, "optimizer": "sgd", "momentum": 0.9}
    for _ in range(30):
        o.zero_grad()
        torch.nn.functional.mse_loss(net(ds.x_train)[:, 0], ds.y_train).backward()
        o.step()
    res = train.train(fam, ds, steps=30, loss="mse", records=3, **kw)
    final = torch.nn.functional.mse_loss(net(ds.x_train)[:, 0], ds.y_train).item()
    assert res.train_loss[-1, 0].item() == pytest.approx(final, rel=1e-9)
    assert torch.allclose(fam.params[0][0], net[0].weight.T, atol=1e-10)


def test_same_seed_same_result_on_cpu():
    def run():
        ds = classification()
        fam = models.mlp(4, 3, widths=[8, 16], seeds=[3, 4], depth=2)
        return train.train(fam, ds, steps=20, lr=0.1, loss="cross_entropy", optimizer="sgd", batch_size=8,
                           momentum=0.9, records=5)

    a, b = run(), run()
    assert torch.equal(a.train_loss, b.train_loss)
    assert all(torch.equal(p, q) for p, q in zip(a.params, b.params, strict=True))


def test_records_probes_and_learning():
    ds = regression()
    fam = models.mlp(3, 1, widths=32, seeds=[0, 1], depth=2)
    x_probe = torch.randn(5, 3)
    res = train.train(fam, ds, steps=200, lr=1e-2, records=8, probes={"f": train.outputs_on(x_probe)})
    assert res.steps[0] == 0 and res.steps[-1] == 200
    assert res.train_loss.shape == (len(res.steps), 2)
    assert res.probes["f"].shape == (len(res.steps), 2, 5, 1)
    assert (res.train_loss[-1] < 0.5 * res.train_loss[0]).all()
    assert torch.isnan(res.train_acc).all()  # MSE on one output has no accuracy
    assert res.params[0].device.type == "cpu" and not res.diverged.any()
    again = train.TrainResult.from_state(res.to_state())
    assert torch.equal(again.train_loss, res.train_loss)


def test_accuracy_for_classification():
    ds = classification()
    fam = models.mlp(4, 3, widths=64, seeds=0, depth=2)
    res = train.train(fam, ds, steps=300, lr=1e-2, loss="cross_entropy", records=4)
    assert res.train_acc[-1, 0] > 0.9 and res.train_acc[0, 0] < 0.7


def test_divergence_is_flagged_not_silent():
    ds = regression()
    fam = models.mlp(3, 1, widths=16, seeds=[0, 1], depth=3)
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = train.train(fam, ds, steps=50, lr=[1e-3, 1e4], optimizer="gd", records=4)
    assert res.diverged.tolist() == [False, True]


def test_log_steps():
    s = train.log_steps(1000, 10)
    assert s[0] == 0 and s[-1] == 1000 and s == sorted(set(s))
    assert train.log_steps(0, 5) == [0]
    assert train.log_steps(50, 2) == [0, 50]


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": -1}, "steps"),
    ({"lr": -0.1}, "lr"),
    ({"lr": [0.1, 0.2, 0.3]}, "lr must be a number or a list of 2"),
    ({"lr": float("nan")}, "lr"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"loss": "hinge"}, "loss"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"optimizer": "gd", "batch_size": 4}, "full-batch"),
    ({"optimizer": "sgd", "batch_size": 0}, "batch_size"),
    ({"optimizer": "sgd", "batch_size": 31}, "batch_size"),
    ({"momentum": 1.0}, "momentum"),
    ({"records": 1}, "records"),
    ({"loss": "cross_entropy"}, "int64"),
    ({"loss": "logistic"}, "logistic"),
])
def test_bad_arguments(kwargs, match):
    ds = regression()
    fam = models.mlp(3, 1, widths=4, seeds=[0, 1])
    args = {"steps": 3, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        train.train(fam, ds, **args)


def test_nan_inputs_are_rejected():
    ds = regression()
    ds.x_train[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x_train holds NaN"):
        train.train(models.mlp(3, 1, 4), ds, steps=1, lr=0.1)


def test_bad_probe():
    ds = regression()
    with pytest.raises(ValueError, match="probe 'p'"):
        train.train(models.mlp(3, 1, 4, seeds=[0, 1]), ds, steps=1, lr=0.1, probes={"p": lambda f: torch.zeros(3)})


def test_callable_loss_trains_like_the_named_one():
    x = torch.linspace(-1, 1, 32)[:, None]
    y = torch.sin(3 * x)
    ds = data.Dataset(x, y, x, y)

    def my_mse(out, target):
        return ((out - target) ** 2).mean((1, 2))

    runs = []
    for loss in ("mse", my_mse):
        fam = models.mlp(1, 1, widths=16, seeds=[0, 1], depth=2, dtype=torch.float64)
        runs.append(train.train(fam, ds, steps=20, lr=0.05, optimizer="gd", loss=loss, records=3))
    assert torch.allclose(runs[0].train_loss, runs[1].train_loss, rtol=1e-12)
    assert runs[1].config["loss"] == "my_mse" and torch.isnan(runs[1].train_acc).all()
    with pytest.raises(ValueError, match="batch_size"):
        train.train(models.mlp(1, 1, widths=4), ds, steps=1, lr=0.1, optimizer="sgd", batch_size=4, loss=my_mse)


# ---------------------------------------------------------------- the trainer's variants, each against lone runs


def _lone_equal(fam, k, lone, rtol=1e-10, atol=1e-12):
    for a, b in zip(fam.member(k).params, lone.params, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def test_per_member_step_budgets_equal_lone_runs_of_their_own_length():
    ds = regression()
    budgets, lrs = [12, 0, 30], [0.05, 0.1, 0.02]
    fam = models.mlp(3, 1, widths=[6, 9, 4], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float64)
    res = train.train(fam, ds, steps=budgets, lr=lrs, optimizer="adam", records=4, spacing="linear")
    assert res.steps.shape == (4, 3) and res.steps[-1].tolist() == budgets  # each member's own schedule
    for k in range(3):
        lone = models.mlp(3, 1, widths=[6, 9, 4][k], seeds=k, depth=3, act="tanh", dtype=torch.float64)
        r1 = train.train(lone, ds, steps=budgets[k], lr=lrs[k], optimizer="adam", records=4, spacing="linear")
        torch.testing.assert_close(res.train_loss[:, k], r1.train_loss[:, 0], rtol=1e-10, atol=1e-12)
        _lone_equal(fam, k, lone)


def test_record_marks():
    marks = train.record_marks([10, 0, 4], 3, "linear")
    assert marks.tolist() == [[0, 0, 0], [5, 0, 2], [10, 0, 4]]
    log = train.record_marks([1000, 3], 6)
    assert log[:, 0].tolist() == train.log_steps(1000, 6) and log[:, 1].tolist() == [0, 1, 2, 3, -1, -1]
    with pytest.raises(ValueError, match="spacing"):
        train.record_marks([3], 3, "cubic")


def test_recorded_scheduler_advances_exactly_to_each_record():
    state = {"t": 0}

    def advance(n):
        state["t"] += n

    out = train.recorded(100, 5, advance, lambda step: {"t": torch.tensor(state["t"])})
    assert torch.equal(out["t"], out["steps"]) and out["steps"][-1] == 100


def test_gradient_penalty_objective_equals_lone_runs_and_the_explicit_gradient():
    """The objective hook: E + λ‖∇E‖², member by member, and one step equals θ − lr (g + 2λ H g)."""
    ds = regression()
    lams = [0.0, 0.3]
    fam = models.mlp(3, 1, widths=[5, 8], seeds=[0, 1], depth=2, act="tanh", dtype=torch.float64)
    train.train(fam, ds, steps=6, lr=0.05, optimizer="gd", records=2, objective=hooks.gradient_penalty(lams))
    for k in range(2):
        lone = models.mlp(3, 1, widths=[5, 8][k], seeds=k, depth=2, act="tanh", dtype=torch.float64)
        train.train(lone, ds, steps=6, lr=0.05, optimizer="gd", records=2,
                    objective=hooks.gradient_penalty(lams[k]))
        _lone_equal(fam, k, lone)
    # the explicit gradient, by autograd's Hessian on the flat parameters
    one = models.mlp(3, 1, widths=4, seeds=3, depth=2, act="tanh", dtype=torch.float64)
    shapes = [p.shape for p in one.params]
    theta = torch.cat([p.detach().flatten() for p in one.params])

    def E(flat):
        ps = list(torch.split(flat, [s.numel() for s in shapes]))
        ps = [q.view(s) for q, s in zip(ps, shapes, strict=True)]
        return ((replace(one, params=ps)(ds.x_train)[0, :, 0] - ds.y_train) ** 2).mean()

    g = torch.autograd.functional.jacobian(E, theta)
    H = torch.autograd.functional.hessian(E, theta)
    train.train(one, ds, steps=1, lr=0.05, optimizer="gd", records=2, objective=hooks.gradient_penalty(0.3))
    after = torch.cat([p.detach().flatten() for p in one.params])
    torch.testing.assert_close(after, theta - 0.05 * (g + 2 * 0.3 * H @ g), rtol=1e-9, atol=1e-11)


def test_pgd_perturbation_hook_equals_lone_adversarial_runs():
    """The perturbation hook: each member attacks and trains on its own batches, as it would alone."""
    ds = regression(n=60)
    ds = data.Dataset(ds.x_train, torch.sign(ds.y_train), ds.x_test, torch.sign(ds.y_test))
    fam = models.mlp(3, 1, widths=[7, 11], seeds=[0, 1], depth=2, dtype=torch.float64)
    kw = dict(steps=15, lr=0.1, loss="logistic", optimizer="sgd", batch_size=8, weight_decay=1e-3, records=2,
              perturb=hooks.pgd(0.1, 3))
    train.train(fam, ds, **kw)
    for k in range(2):
        lone = models.mlp(3, 1, widths=[7, 11][k], seeds=k, depth=2, dtype=torch.float64)
        train.train(lone, ds, **kw)
        _lone_equal(fam, k, lone)
    # the attack stays in the ε-ball and raises every member's loss
    x, y = ds.x_train[None, :8].expand(2, -1, -1), ds.y_train[None, :8].expand(2, -1)
    x_adv = hooks.pgd(0.1, 3)(fam, x, y)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-12
    assert (member_losses(fam(x_adv), y, "logistic") > member_losses(fam(x), y, "logistic")).all()


def test_spectral_penalty_objective_equals_lone_runs_and_the_papers_update():
    """The spectral-norm penalty (λ/2) Σ σ_max(W)², per member: member k of a family follows the lone run with
    its λ and seed (power iteration included); one step with a converged power iteration is θ − lr (g + λ σ u vᵀ)
    with σ, u, v from the SVD; and the warm-started estimate tracks σ_max as training goes."""
    ds = regression(n=60)
    lams = [0.0, 0.3, 0.05]
    kw = dict(steps=12, lr=0.05, optimizer="sgd", batch_size=8, momentum=0.5, records=2)
    fam = models.mlp(3, 1, widths=[5, 8, 6], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float64)
    train.train(fam, ds, **kw, objective=hooks.spectral_penalty(lams))
    for k in range(3):
        lone = models.mlp(3, 1, widths=[5, 8, 6][k], seeds=k, depth=3, act="tanh", dtype=torch.float64)
        train.train(lone, ds, **kw, objective=hooks.spectral_penalty(lams[k]))
        _lone_equal(fam, k, lone)
    # one GD step against the SVD (many power iterations from the start: converged)
    one = models.mlp(3, 1, widths=4, seeds=3, depth=3, act="tanh", dtype=torch.float64)
    Ws = [p.detach()[0].clone() for p in one.params[0::2]]
    theta = [p.detach().clone() for p in one.params]
    probe = models.mlp(3, 1, widths=4, seeds=3, depth=3, act="tanh", dtype=torch.float64)
    E = member_losses(probe(ds.x_train), ds.y_train[:, None], "mse").sum()
    g = torch.autograd.grad(E, probe.params)
    lam, lr = 0.4, 0.05
    train.train(one, ds, steps=1, lr=lr, optimizer="gd", records=2, objective=hooks.spectral_penalty(lam, iters=300))
    for i, p in enumerate(one.params):
        expected = theta[i] - lr * g[i]
        if i % 2 == 0:  # a weight matrix: the penalty's gradient λ σ u vᵀ
            U, S, Vh = torch.linalg.svd(Ws[i // 2])
            expected = expected - lr * lam * S[0] * torch.outer(U[:, 0], Vh[0])[None]
        torch.testing.assert_close(p.detach(), expected, rtol=1e-9, atol=1e-11)
    # one iteration per step, warm-started: after training, the penalty is (λ/2) Σ σ_max² to 1e-4 (a weak λ: a
    # strong one pushes σ_1 down onto σ_2, where a power iteration converges slowly, as in any power iteration)
    lam = 0.02
    obj = hooks.spectral_penalty(lam)
    train.train(one, ds, steps=60, lr=lr, optimizer="gd", records=2, objective=obj)
    with torch.no_grad():
        E = member_losses(one(ds.x_train), ds.y_train[:, None], "mse")
    exact = sum(torch.linalg.matrix_norm(W.detach(), ord=2) ** 2 for W in one.params[0::2])
    torch.testing.assert_close((obj(one, ds.x_train, ds.y_train[:, None]) - E).detach(), lam / 2 * exact,
                               rtol=1e-4, atol=0)


def test_spectral_penalty_needs_an_mlp_family():
    fam = models.cnn(6, 1, 2, seeds=[0], dtype=torch.float64)
    with pytest.raises(ValueError, match="spectral_penalty needs an MLP family"):
        hooks.spectral_penalty(0.1)(fam, torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64))


def test_sam_objective_equals_lone_runs_and_the_gradient_at_the_perturbed_weights():
    """SAM through the objective hook: per-member ρ; member k equals its lone run; ρ = 0 is plain training bit for
    bit; and one step is θ − lr ∇E(θ + ρ g/‖g‖), by autograd on an independent flat re-implementation."""
    ds = classification()
    rhos = [0.0, 0.05, 0.3]
    kw = dict(steps=15, lr=0.1, loss="cross_entropy", optimizer="sgd", batch_size=8, weight_decay=1e-3, records=2)
    fam = models.mlp(4, 3, widths=[5, 9, 7], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float64)
    train.train(fam, ds, **kw, objective=hooks.sam(rhos, "cross_entropy"))
    for k in range(3):
        lone = models.mlp(4, 3, widths=[5, 9, 7][k], seeds=k, depth=3, act="tanh", dtype=torch.float64)
        train.train(lone, ds, **kw, objective=hooks.sam(rhos[k], "cross_entropy"))
        _lone_equal(fam, k, lone)
        if rhos[k] == 0:  # ρ = 0: the plain trainer's run, bit for bit
            plain = models.mlp(4, 3, widths=5, seeds=0, depth=3, act="tanh", dtype=torch.float64)
            train.train(plain, ds, **kw)
            assert all(torch.equal(a, b) for a, b in zip(lone.params, plain.params, strict=True))
    # one full-batch step against the flat reference
    one = tiny_family(K=1, width=5, d_in=4, d_out=3)
    f, theta = flat_loss(one, 0, ds.x_train, ds.y_train, "cross_entropy")
    g = torch.autograd.functional.jacobian(f, theta)
    rho, lr = 0.2, 0.1
    g_sam = torch.autograd.functional.jacobian(f, theta + rho * g / g.norm())
    train.train(one, ds, steps=1, lr=lr, loss="cross_entropy", optimizer="gd", records=2,
                objective=hooks.sam(rho, "cross_entropy"))
    after = torch.cat([p.detach()[0].flatten() for p in one.params])
    torch.testing.assert_close(after, theta - lr * g_sam, rtol=1e-9, atol=1e-11)


def test_dropout_members_equal_lone_runs_and_are_off_outside_the_steps():
    """Dropout as a family option: per-member rates; each member draws its masks from its own seed, so it equals
    its lone run exactly; records, probes and plain calls see the deterministic network."""
    ds = classification()
    widths, seeds, rates = [5, 9, 7], [0, 1, 2], [0.0, 0.2, 0.5]
    kw = dict(steps=20, lr=0.1, loss="cross_entropy", optimizer="sgd", batch_size=8, momentum=0.5, records=4)
    fam = models.mlp(4, 3, widths=widths, seeds=seeds, depth=3, dropout=rates, dtype=torch.float64)
    plain = models.mlp(4, 3, widths=widths, seeds=seeds, depth=3, dtype=torch.float64)  # the same start
    probe = {"gc": lambda f: probes.geometric_complexity(f, ds.x_train)}
    res = train.train(fam, ds, **kw, probes=probe)
    assert res.config["dropout"] == rates
    # at step 0 the records and the probe are those of the network without dropout
    ref = train.train(plain, ds, **{**kw, "steps": 0}, probes=probe)
    assert torch.equal(res.train_loss[0], ref.train_loss[0]) and torch.equal(res.probes["gc"][0], ref.probes["gc"][0])
    for k in range(3):
        lone = models.mlp(4, 3, widths=widths[k], seeds=seeds[k], depth=3, dropout=rates[k], dtype=torch.float64)
        r1 = train.train(lone, ds, **kw, probes=probe)
        torch.testing.assert_close(res.train_loss[:, k], r1.train_loss[:, 0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(res.probes["gc"][:, k], r1.probes["gc"][:, 0], rtol=1e-10, atol=1e-12)
        _lone_equal(fam, k, lone)
    # the rate-0 member trained as if there were no dropout at all; the others did not
    train.train(plain, ds, **kw)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(fam.params, plain.params, strict=True))
    assert not torch.equal(fam.params[0][2], plain.params[0][2])
    # outside stepping() the network is deterministic; inside, each call draws new masks (rate-0 member unchanged)
    x = ds.x_test
    assert torch.equal(fam(x), fam(x))
    alone = fam.member(2)  # a copy that carries its rate and its generator's state along
    with fam.stepping():
        a, b = fam(x), fam(x)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[2], b[2])
    assert not fam.training
    with alone.stepping():
        torch.testing.assert_close(alone(x)[0], a[2], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="compile=True does not support dropout"):
        train.train(fam, ds, steps=1, lr=0.1, loss="cross_entropy", compile=True)


def test_dropout_masks_drop_at_the_rate_and_keep_the_mean():
    """Inverted dropout, statistically (a fixed seed, so the test is deterministic): the fraction of zeroed hidden
    units is p, and for one hidden layer (the output is linear in the mask) the mean output over many draws is the
    deterministic output."""
    p, n_draws = 0.3, 4000
    fam = models.mlp(3, 2, widths=50, seeds=[7], depth=2, dropout=p, dtype=torch.float64)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mult = models._dropout_mask(fam, fam.masks[0], torch.zeros(1, n_draws, 50, dtype=torch.float64))
    dropped = float((mult == 0).double().mean())
    assert abs(dropped - p) < 4 * (p * (1 - p) / mult.numel()) ** 0.5
    assert set(mult.unique().tolist()) == {0.0, 1 / (1 - p)}
    with torch.no_grad(), fam.stepping():
        mean = torch.stack([fam(x) for _ in range(n_draws)]).mean(0)
    with torch.no_grad():
        exact = fam(x)
    spread = exact.abs().max()
    assert (mean - exact).abs().max() < 0.05 * spread
    assert models.mlp(3, 2, widths=4, seeds=[0, 1], dropout=0.0).dropout is None  # rate 0: no dropout at all


def test_per_member_datasets_equal_lone_runs_on_each_dataset():
    sets = [regression(seed=s) for s in (0, 1, 2)]
    fields = ("x_train", "y_train", "x_test", "y_test")
    stacked = data.Dataset(*(torch.stack([getattr(s, f) for s in sets]) for f in fields))
    stacked.y_train, stacked.y_test = stacked.y_train[..., None], stacked.y_test[..., None]  # [K, n, 1] targets
    fam = models.mlp(3, 1, widths=[5, 5, 8], seeds=[4, 4, 5], depth=2, dtype=torch.float64)
    kw = dict(steps=20, lr=0.05, optimizer="sgd", batch_size=7, momentum=0.5, records=3)
    res = train.train(fam, stacked, **kw)
    for k in range(3):
        lone = models.mlp(3, 1, widths=[5, 5, 8][k], seeds=[4, 4, 5][k], depth=2, dtype=torch.float64)
        r1 = train.train(lone, sets[k], **kw)
        torch.testing.assert_close(res.test_loss[:, k], r1.test_loss[:, 0], rtol=1e-10, atol=1e-12)
        _lone_equal(fam, k, lone)
    with pytest.raises(ValueError, match="one dataset per member"):
        train.train(models.mlp(3, 1, 4, seeds=[0, 1]), stacked, steps=1, lr=0.1)


def test_packed_family_trains_like_the_padded_family():
    """The packed layout (one GEMM over Σ widths units) follows the same trajectory as models.mlp, with
    per-member learning rates and weight decays laid out per unit."""
    ds = classification()
    widths, seeds, lrs, wds = [4, 1, 7, 4], [0, 1, 2, 3], [1e-2, 3e-3, 1e-2, 5e-3], [0.0, 0.1, 0.0, 0.01]
    order = sorted(range(4), key=lambda k: (widths[k], k))  # the packed family's member order
    packed = models.packed_mlp(4, 3, widths, seeds, dtype=torch.float64)
    assert packed.widths == [widths[k] for k in order]
    r = train.train(packed, ds, steps=40, lr=[lrs[k] for k in order], weight_decay=[wds[k] for k in order],
                    loss="cross_entropy", records=3)
    fam = models.mlp(4, 3, widths=widths, seeds=seeds, depth=2, dtype=torch.float64)
    ref = train.train(fam, ds, steps=40, lr=lrs, weight_decay=wds, loss="cross_entropy", records=3)
    torch.testing.assert_close(r.train_loss, ref.train_loss[:, order], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(r.test_acc, ref.test_acc[:, order])
    assert r.train_loss[-1].mean() < 0.8 * r.train_loss[0].mean()


def test_centered_family_starts_at_zero_and_members_match_lone_runs():
    ds = regression()
    base = models.mlp(3, 1, widths=[6, 6], seeds=[0, 1], depth=2, dtype=torch.float64)
    fam = models.centered(base, [1.0, 50.0])
    assert fam(ds.x_train).abs().max() == 0
    res = train.train(fam, ds, steps=10, lr=[0.1, 0.1 / 2500], optimizer="gd", records=2)
    for k, a in enumerate([1.0, 50.0]):
        lone = models.centered(models.mlp(3, 1, widths=6, seeds=k, depth=2, dtype=torch.float64), a)
        r1 = train.train(lone, ds, steps=10, lr=0.1 / a**2, optimizer="gd", records=2)
        torch.testing.assert_close(res.train_loss[:, k], r1.train_loss[:, 0], rtol=1e-10, atol=1e-12)


# --- train(..., compile=True): the same loop with its step compiled (widgets.core.compiled) ---------------------


def _compile_works() -> bool:
    """torch.compile can run here: dynamo supports this Python and platform, and inductor finds a C++ compiler."""
    try:
        import torch._inductor.cpp_builder as cpp

        return torch._dynamo.is_dynamo_supported() and bool(cpp.get_cpp_compiler())
    except Exception:
        return False


needs_compile = pytest.mark.skipif(not _compile_works(), reason="torch.compile is not available here")
# float32, tiny nets, 30 steps: compiled and eager differ by rounding (measured ~1e-7); a wrong update (another
# lr, a missed weight decay or bias correction) moves parameters by ≥ 1e-3
COMPILED_ATOL = 1e-5


def _compiled_vs_eager(**kw):
    ds = regression()
    runs = {}
    for compile in (False, True):
        fam = models.mlp(3, 1, widths=[5, 9, 9], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float32)
        runs[compile] = train.train(fam, ds, records=4, compile=compile, **kw), fam
    return runs[False], runs[True]


@needs_compile
def test_compiled_adam_follows_the_eager_trajectory_with_per_member_lrs():
    """AdamW, per-member lrs and weight decays, padded widths: the compiled trajectory is the eager one to float32
    rounding (|Δθ| ≤ 1e-5, losses to 1e-5 relative); a member with lr = 0 does not move at all."""
    lrs, wds = [1e-2, 3e-3, 0.0], [0.1, 0.0, 0.1]
    (eager, _), (comp, fam) = _compiled_vs_eager(steps=30, lr=lrs, weight_decay=wds, optimizer="adam")
    assert comp.config["compile"] is True and "compile" not in eager.config
    torch.testing.assert_close(comp.train_loss, eager.train_loss, rtol=1e-5, atol=1e-7)
    for a, b in zip(comp.params, eager.params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=COMPILED_ATOL)
    init = models.mlp(3, 1, widths=[5, 9, 9], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float32)
    for p, p0, m in zip(comp.params, init.params, fam.masks, strict=True):
        assert torch.equal(p[2], p0[2].detach())  # lr = 0: exactly where it started
        assert (p[m == 0] == 0).all()  # padded entries stay zero
        assert not torch.equal(p[0], p0[0].detach())  # lr > 0: moved
    # the per-member lrs are applied member by member: the same run with the lrs swapped is far off
    other = train.train(models.mlp(3, 1, widths=[5, 9, 9], seeds=[0, 1, 2], depth=3, act="tanh"), regression(),
                        steps=30, lr=[3e-3, 1e-2, 0.0], weight_decay=wds, records=4)
    assert max(float((a - b).abs().max()) for a, b in zip(comp.params, other.params, strict=True)) > 100 * COMPILED_ATOL


@needs_compile
def test_compiled_sgd_with_momentum_minibatches_and_budgets_follows_eager():
    (eager, _), (comp, _) = _compiled_vs_eager(steps=[12, 30, 20], lr=[0.05, 0.02, 0.0], weight_decay=1e-2,
                                               optimizer="sgd", momentum=0.9, batch_size=8)
    torch.testing.assert_close(comp.train_loss, eager.train_loss, rtol=1e-5, atol=1e-7, equal_nan=True)
    for a, b in zip(comp.params, eager.params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=COMPILED_ATOL)


@needs_compile
def test_compiled_code_is_reused_and_a_custom_rule_keeps_its_own_update():
    """A run on a structure compiled before compiles nothing new (the family, data and rules of the two tests
    above: nothing to compile here when they ran first); a rule without ``step``/``scalars`` runs its eager
    update behind the compiled loss."""
    from widgets.core import compiled, optim

    class Halved:  # heavy ball at half the lr: a rule the compiled path does not know
        def init(self, params):
            return optim.SGD(0.9).init(params)

        def update(self, params, grads, state, t, lr, wd):
            optim.SGD(0.9).update(params, grads, state, t, [0.5 * v for v in lr], wd)

    runs = []
    for rule, lr, extra in ((Halved(), 0.1, {}), ("sgd", 0.05, {"momentum": 0.9}), ("sgd", 0.05, {"momentum": 0.9})):
        fam = models.mlp(3, 1, widths=[5, 9, 9], seeds=[0, 1, 2], depth=3, act="tanh", dtype=torch.float32)
        kept = len(compiled._kept)
        runs.append(train.train(fam, regression(), steps=10, lr=lr, weight_decay=1e-2, optimizer=rule, records=2,
                                compile=True, **extra))
    assert len(compiled._kept) == kept  # the third run reused the second's compiled code
    for a, b in zip(runs[0].params, runs[1].params, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=COMPILED_ATOL)


def test_compile_rejects_what_it_does_not_support():
    ds = regression()
    fam = models.mlp(3, 1, widths=4, seeds=[0], depth=2)
    with pytest.raises(ValueError, match="objective hook"):
        train.train(fam, ds, steps=1, lr=0.1, objective=hooks.gradient_penalty(0.1), compile=True)
    with pytest.raises(ValueError, match="compile must be"):
        train.train(fam, ds, steps=1, lr=0.1, compile="yes")


@needs_compile
def test_a_failing_compiler_is_a_runtime_error_not_a_silent_fallback():
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    fam = models.mlp(3, 1, widths=3, seeds=[0, 1, 2, 3, 4], depth=2)  # a structure no other test compiles
    with (inductor_config.patch({"cpp.cxx": (None, "/nonexistent/c++"), "fx_graph_cache": False}),
          functorch_config.patch(enable_autograd_cache=False),
          pytest.raises(RuntimeError, match="torch.compile failed.*C\\+\\+ compiler.*compile=False")):
        train.train(fam, regression(), steps=2, lr=0.1, optimizer="gd", compile=True)


@pytest.mark.parametrize("y, match", [
    (torch.randn(16, 5), r"y_train \(16, 5\) has 5 target column\(s\), but the family has 1 output"),
    (torch.randn(2, 16, 3), r"y_train \(2, 16, 3\) has 3 target column"),
])
def test_targets_that_do_not_fit_the_outputs_are_refused_not_broadcast(y, match):
    from widgets.core import data as D
    from widgets.core import models as M

    fam = M.mlp(3, 1, 8, seeds=[0, 1])
    x = torch.randn(16, 3)
    with pytest.raises(ValueError, match=match):
        train.train(fam, D.Dataset(x, y, x, y), steps=2, lr=1e-3, records=2)


def test_class_labels_must_fit_the_outputs():
    from widgets.core import data as D
    from widgets.core import models as M

    fam = M.mlp(3, 4, 8, seeds=[0])
    x = torch.randn(10, 3)
    y = torch.arange(10) % 5  # label 4 on 4 outputs
    with pytest.raises(ValueError, match=r"y_train holds class labels in \[0, 4\].*labels in \[0, 3\]"):
        train.train(fam, D.Dataset(x, y, x, y % 4), steps=2, lr=1e-3, loss="cross_entropy", records=2)
    ok = train.train(fam, D.Dataset(x, y % 4, x, y % 4), steps=2, lr=1e-3, loss="cross_entropy", records=2)
    assert torch.isfinite(ok.train_loss).all()


# ---------------------------------------------------------------- bad input: a clear error naming the argument

from widgets.core import compiled  # noqa: E402

_NAN = float("nan")
_DS = regression()
_FAM = models.mlp(3, 1, widths=4, seeds=[0, 1])
_RESULT = train.train(models.mlp(3, 1, 4), regression(), steps=2, lr=0.1, records=2)


def _advance(k):
    pass


_BAD_INPUTS = [
    (train.log_steps, (-1, 5), {}, ValueError, r"steps must be an integer in \[0, inf\]"),
    (train.log_steps, (10, 1), {}, ValueError, r"records must be an integer in \[2, 100000\]"),
    (train.log_steps, (2.5, 5), {}, ValueError, r"steps must be an integer"),
    (train.record_marks, (10, 5), {}, TypeError, r"steps must be a list or tuple"),
    (train.record_marks, ([], 5), {}, ValueError, r"steps must have at least 1 entries"),
    (train.record_marks, ([10, -1], 5), {}, ValueError, r"steps\[i\] must be an integer in \[0, 100000000\]"),
    (train.record_marks, ([10], 5), {"spacing": "cubic"}, ValueError, r"spacing must be one of"),
    (train.record_marks, ([10] * 10**6, 10**5), {}, ValueError,
     r"the record schedule of 1000000 members × 100000 records is too large"),
    (train.recorded, (10, 3, "advance", lambda t: {}), {}, TypeError, r"advance must be a function"),
    (train.recorded, (10, 3, _advance, None), {}, TypeError, r"record must be a function"),
    (train.recorded, (10, 3, _advance, lambda t: [t]), {}, ValueError, r"record must return a dict of tensors"),
    (train.recorded, (10, 3, _advance, lambda t: {"a": 1.0}), {}, ValueError, r"record must return a dict of tensors"),
    (train.recorded, (10, 3, _advance, lambda t: {}), {"progress": None}, TypeError, r"progress must be True or False"),
    (train.per_member, ("lr", [0.1, 0.2], 3, 0, 1, "cpu", torch.float32), {}, ValueError,
     r"lr must be a number or a list of 3 \(one per member\)"),
    (train.per_member, ("lr", _NAN, 3, 0, 1, "cpu", torch.float32), {}, ValueError, r"lr must be a finite number"),
    (train.per_member, ("lr", "fast", 3, 0, 1, "cpu", torch.float32), {}, TypeError, r"lr must be a list or tuple"),
    (train.per_member, ("lr", True, 3, 0, 1, "cpu", torch.float32), {}, ValueError, r"lr must be a number in \[0, 1\]"),
    (train.per_member, ("lr", 0.1, 0, 0, 1, "cpu", torch.float32), {}, ValueError, r"K must be an integer in \[1"),
    (train.Batches, (0, 1, [0], "cpu"), {}, ValueError, r"n must be an integer in \[1, inf\]"),
    (train.Batches, (10, 11, [0], "cpu"), {}, ValueError, r"size must be an integer in \[1, 10\]"),
    (train.Batches, (10, 2, [-1], "cpu"), {}, ValueError, r"seeds\[i\] must be an integer in \[0, inf\]"),
    (train.Batches, (10, 2, [0], "bogus"), {}, ValueError, r"device must name a device"),
    (train.train, (_FAM, (_DS.x_train, _DS.y_train)), {"steps": 2, "lr": 0.1}, TypeError, r"data must be a widgets"),
    (train.train, ("net", _DS), {"steps": 2, "lr": 0.1}, TypeError, r"family must be a family of models"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "probes": [lambda f: f]}, TypeError,
     r"probes must be a dict of name → function"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "probes": {"p": 3}}, TypeError, r"probes must be a dict"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "objective": "sum"}, TypeError,
     r"objective must be None or a function"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "perturb": 1}, TypeError, r"perturb must be None or a function"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "progress": "yes"}, TypeError,
     r"progress must be True or False"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": _NAN}, ValueError, r"lr must be a finite number in \[0, 1000000"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": [0.1, 0.1, 0.1]}, ValueError, r"lr must be a number or a list of 2"),
    (train.train, (_FAM, _DS), {"steps": -2, "lr": 0.1}, ValueError, r"steps must be an integer in \[0, 100000000\]"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "weight_decay": -1.0}, ValueError,
     r"weight_decay must be a finite number in \[0, 1000000"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "compile": "yes"}, ValueError, r"compile must be True or False"),
    (train.train, (_FAM, _DS), {"steps": 2, "lr": 0.1, "loss": "bogus"}, ValueError, r"loss must be one of"),
    (train.outputs_on, (torch.zeros(4),), {}, ValueError, r"x must have shape \[m, d\]"),
    (train.outputs_on, (torch.full((2, 3), _NAN),), {}, ValueError, r"x must hold only finite values"),
    (train.outputs_on, ([[1.0, 2.0]],), {}, TypeError, r"x must be a torch.Tensor"),
    (train.TrainResult.from_state, ([1],), {}, TypeError, r"state must be the dict of TrainResult.to_state"),
    (train.TrainResult.from_state, ({"steps": 1},), {}, ValueError, r"state must hold TrainResult's fields"),
    (train.TrainResult.from_state, ({**_RESULT.to_state(), "extra": 1},), {}, ValueError,
     r"state must hold TrainResult's fields"),
    (compiled.check_available, ("cpu",), {}, TypeError, r"device must be a torch.device"),
    (compiled.step_grads, ("net", "mse"), {}, TypeError, r"family must be a family of models"),
    (compiled.step_grads, (_FAM, "bogus"), {}, ValueError, r"loss must be one of"),
    (compiled.update, ("adam",), {}, TypeError, r"rule must be an update rule"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
