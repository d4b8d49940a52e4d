"""Method comparisons behind ``python -m dcoc.bench run`` and ``plot``.

* :mod:`~dcoc.benchmark.suites`: what to run, parsed from the command line (suites, seeds,
  budgets, methods) and checked before anything runs;
* :mod:`~dcoc.benchmark.runner`: one run per (suite, budget, method, seed) in its own run
  directory, resumable, serial or through an executor the caller passes (Ray);
* :mod:`~dcoc.benchmark.rundirs`: the layout of a benchmark directory and reading it back;
* :mod:`~dcoc.benchmark.report`: the table (geometric means, bootstrap intervals, ratios);
* :mod:`~dcoc.benchmark.plots`: best-so-far curves, Pareto fronts, chosen hardware.
"""
