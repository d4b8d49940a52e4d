"""dcoc: co-optimization of DNN accelerator hardware and the software that runs on it."""

__version__ = "0.1.0"
