"""The compute core: torch and numpy only, so it runs on a bare GPU machine (a test imports every module of
this folder and checks that nothing else was loaded).

``env`` (device, dtype, seeding, mode), ``checks`` (argument validation), ``data`` (datasets as functions),
``models`` (families of K networks as stacked tensors), ``train`` (the one training loop), ``cache``,
``kernels`` (infinite-width kernels and their spectra) and ``stats``.
"""
