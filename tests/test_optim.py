import pytest
import torch

from widgets.core import data, models, optim, train


def test_rules_by_name_and_as_objects_train_identically():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 2, generator=g, dtype=torch.float64)
    ds = data.Dataset(x, x.sum(1), x, x.sum(1))
    runs = []
    for opt, kw in (("sgd", {"momentum": 0.9}), (optim.SGD(0.9), {}), ("adam", {}), (optim.Adam(), {})):
        fam = models.mlp(2, 1, widths=5, seeds=[0, 1], dtype=torch.float64)
        runs.append(train.train(fam, ds, steps=10, lr=0.01, optimizer=opt, batch_size=5, records=2, **kw))
    assert torch.equal(runs[0].train_loss, runs[1].train_loss) and torch.equal(runs[2].train_loss, runs[3].train_loss)
    assert runs[1].config["optimizer"] == "SGD"


def test_sgd_update_is_the_formula():
    p = [torch.tensor([[1.0, -2.0]])]
    rule = optim.SGD(momentum=0.5)
    state = rule.init(p)
    lr, wd = [torch.tensor([[0.1]])], [torch.tensor([[0.01]])]
    for _ in range(2):
        rule.update(p, [torch.tensor([[1.0, 1.0]])], state, 1, lr, wd)
    g1 = torch.tensor([1.0, 1.0]) + 0.01 * torch.tensor([1.0, -2.0])
    p1 = torch.tensor([1.0, -2.0]) - 0.1 * g1
    b2 = 0.5 * g1 + torch.tensor([1.0, 1.0]) + 0.01 * p1
    torch.testing.assert_close(p[0][0], p1 - 0.1 * b2)


def test_a_zero_learning_rate_does_not_move_adam():
    p = [torch.ones(2, 3)]
    rule = optim.Adam()
    state = rule.init(p)
    rule.update(p, [torch.randn(2, 3)], state, 1, [torch.tensor([[0.0], [0.1]])], None)
    assert torch.equal(p[0][0], torch.ones(3)) and not torch.equal(p[0][1], torch.ones(3))


@pytest.mark.parametrize("make, match", [
    (lambda: optim.SGD(momentum=1.0), "momentum"),
    (lambda: optim.Adam(b1=1.0), "betas"),
    (lambda: optim.Adam(eps=0.0), "eps"),
    (lambda: optim.rule("lbfgs"), "optimizer"),
    (lambda: optim.rule("adam", momentum=0.9), "momentum"),
])
def test_bad_rules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("rule", [optim.Adam(), optim.SGD(0.9)])
def test_update_is_step_with_the_scalars_of_t_given_as_floats_or_tensors(rule):
    """What the compiled trainer relies on: ``step`` with the ``scalars`` of t as a 0-d tensor is ``update`` at t."""
    g = torch.Generator().manual_seed(0)
    p = [torch.randn(2, 3, generator=g)]
    q, p0 = [p[0].clone()], p[0].clone()
    sp, sq = rule.init(p), rule.init(q)
    lr, wd = [torch.tensor([[1e-2], [0.0]])], [torch.tensor([[0.1], [0.1]])]
    for t in range(1, 4):
        grad = [torch.randn(2, 3, generator=g)]
        rule.update(p, grad, sp, t, lr, wd)
        rule.step(q, grad, sq, rule.scalars(torch.tensor(float(t), dtype=torch.float64)), lr, wd)
    torch.testing.assert_close(p[0], q[0], rtol=1e-6, atol=1e-7)
    assert torch.equal(p[0][1], p0[1]) and torch.equal(q[0][1], p0[1])  # lr = 0: neither moved
    assert len(rule.scalars(5)) == (2 if isinstance(rule, optim.Adam) else 0)
    if isinstance(rule, optim.Adam):  # the tensor route computes the same bias corrections
        as_tensors = rule.scalars(torch.tensor(7.0, dtype=torch.float64))
        assert [float(c) for c in as_tensors] == pytest.approx(rule.scalars(7), rel=1e-15)


# ---------------------------------------------------------------- bad input

_BAD_INPUTS = [
    (optim.SGD, (1.0,), {}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
    (optim.SGD, (-0.1,), {}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
    (optim.SGD, (float("nan"),), {}, ValueError, r"momentum must be a finite number"),
    (optim.SGD, ("fast",), {}, ValueError, r"momentum must be a number"),
    (optim.Adam, (), {"b1": 1.0}, ValueError, r"betas\[0\] must be a finite number in \[0, 1\)"),
    (optim.Adam, (), {"b2": -0.1}, ValueError, r"betas\[1\] must be a finite number in \[0, 1\)"),
    (optim.Adam, (), {"eps": 0.0}, ValueError, r"eps must be a finite number in \(0, 1\]"),
    (optim.Adam, (), {"eps": float("inf")}, ValueError, r"eps must be a finite number"),
    (optim.rule, ("rmsprop",), {}, ValueError, r"optimizer must be one of \('gd', 'sgd', 'adam'\)"),
    (optim.rule, (3,), {}, TypeError, r"optimizer must be one of"),
    (optim.rule, ("adam",), {"momentum": 0.9}, ValueError, r"momentum applies to optimizer='gd' or 'sgd'"),
    (optim.rule, ("adam",), {"betas": (0.9,)}, ValueError, r"betas must be a pair"),
    (optim.rule, ("adam",), {"betas": 0.9}, ValueError, r"betas must be a pair"),
    (optim.rule, ("adam",), {"betas": (0.9, 1.5)}, ValueError, r"betas\[1\] must be a finite number in \[0, 1\)"),
    (optim.rule, ("adam",), {"eps": -1.0}, ValueError, r"eps must be a finite number"),
    (optim.rule, ("gd",), {"betas": (0.5, 0.5)}, ValueError, r"betas and eps apply to optimizer='adam'"),
    (optim.rule, ("sgd",), {"eps": 1e-3}, ValueError, r"betas and eps apply to optimizer='adam'"),
    (optim.rule, ("sgd",), {"momentum": 1.5}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,match", _BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(_BAD_INPUTS)])
def test_bad_input_is_refused_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
