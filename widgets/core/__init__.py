"""The compute core: torch and numpy only, so it runs on a bare GPU machine (a test imports every module of
this folder and checks that nothing else was loaded).

``env`` (device, dtype, seeding, mode, thread policy), ``checks`` (argument validation), ``params`` (the one
Params base), ``data`` (datasets as functions), ``models`` (families of K networks: stacked and padded,
centered, packed; per-member dropout), ``losses`` (every loss of the book), ``optim`` (update rules as data),
``train`` (the one training loop and the solvers' record scheduler), ``hooks`` (objective and perturbation
hooks: gradient, spectral-norm and SAM objectives, adversarial inputs), ``compiled`` (the trainer's optional
torch.compile path), ``cache``, ``kernels`` (infinite-width kernels and their spectra), ``probes`` (measuring
tools on a family: tangent kernel, gradient norms, Hessian eigenvalues, geometric complexity, alignment),
``solvers`` (the optima GD is compared with, and GD by hand for models that are not families), ``meanfield``
(the mean-field two-layer net with hand gradients) and ``stats`` (ranks, correlations, slopes, first
crossings).
"""
