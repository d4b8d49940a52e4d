"""The only package that imports TVM: MetaSchedule sketches as discrete decision slots,
applying decisions, out-of-process build/run/verify with timeouts, the MetaSchedule baseline,
export to MetaSchedule's JSON database, and accelerator mappings as TIR programs."""
