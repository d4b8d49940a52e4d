"""Bundled layer sets (one YAML file per network); read through dcoc.workloads.catalog."""
