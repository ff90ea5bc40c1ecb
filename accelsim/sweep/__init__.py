"""Design-space sweeps: sweep files, point expansion, execution on local
processes or a Dask cluster, a resumable SQLite results store, Pareto fronts."""
