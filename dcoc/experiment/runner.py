"""The training loop of ``python -m dcoc.train``: per iteration train PPO, run the
confidence-gated proposal phase, read the records for the best-so-far, log scalars and one
progress line, checkpoint; at the end export the best design and ``summary.json``."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch.utils.tensorboard import SummaryWriter

from dcoc.agents.confidence import ConfidenceConfig
from dcoc.agents.trainer import PolicySampler, PolicyTrainer, TrainerSettings, start_ray, stop_ray
from dcoc.envs.codesign_joint import JointSpace
from dcoc.errors import ConfigError
from dcoc.experiment.best_design import CoDesignBestTracker, CpuBestTracker
from dcoc.experiment.config import ExperimentConfig, Formulation, Mode, SeedMethod
from dcoc.experiment.environment import EnvPlan, plan_env
from dcoc.experiment.loader import config_to_dict
from dcoc.experiment.outputs import ExportedDesign, export_codesign, export_schedule
from dcoc.experiment.proposals import ConfidenceRound, confidence_round
from dcoc.experiment.recorded_env import (
    RECORDS_METHOD_KEY,
    START_DESIGN_KEY,
    make_recorded_codesign_env,
)
from dcoc.experiment.run_dir import POLICY_COMPONENT, Progress, RunDirectory
from dcoc.experiment.scalars import progress_line, rllib_scalars
from dcoc.experiment.seeding import SeedDesign, seed_design

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    config: ExperimentConfig
    config_file: str
    run_dir: Path
    resume: bool = False
    address: str | None = None


def trainer_settings(config: ExperimentConfig, plan: EnvPlan) -> TrainerSettings:
    a = config.agents
    return TrainerSettings(
        env_factory=plan.factory,
        env_config=plan.env_config,
        critic=a.critic.value,  # type: ignore[arg-type]
        lr=a.lr,
        gamma=a.gamma,
        lambda_=a.gae_lambda,
        train_batch_size=a.train_batch_size,
        minibatch_size=a.minibatch_size,
        num_epochs=a.num_epochs,
        entropy_coeff=a.entropy_coeff,
        clip_param=a.clip_param,
        vf_loss_coeff=a.vf_loss_coeff,
        hidden_sizes=a.hidden_sizes,
        num_env_runners=a.num_env_runners,
        num_envs_per_env_runner=a.num_envs_per_env_runner,
        seed=config.experiment.seed,
    )


class Run:
    """One run directory being trained (fresh or resumed)."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.config = request.config
        self.dir = RunDirectory(request.run_dir)
        self.codesign = self.config.mode == Mode.CODESIGN
        # Checks (workload, area budget) before anything is created or started.
        self.plan = plan_env(self.config, self.dir.records.resolve(), request.config_file)
        if request.resume:
            self.progress = Progress.load(self.dir)
            if self.progress.checkpoint is None:
                raise ConfigError(
                    str(self.dir.root), ("progress.json",), "no checkpoint to resume from yet"
                )
            # Iterations after the last checkpoint are replayed; their records stay.
            self.progress.iteration = self.progress.checkpoint_iteration
            self.progress.history = self.progress.history[: self.progress.iteration]
            self.dir.config.write_text(yaml.safe_dump(config_to_dict(self.config), sort_keys=False))
        else:
            self.dir.create()
            self.dir.config.write_text(yaml.safe_dump(config_to_dict(self.config), sort_keys=False))
            self.progress = Progress()
        self.tracker: CoDesignBestTracker | CpuBestTracker
        if self.codesign:
            self.tracker = CoDesignBestTracker(
                self.dir.records,
                self.plan.layer_keys,
                self.plan.counts,
                objective=self.config.env.objective.value,
                energy_budget_pj=self.config.codesign.energy_budget_pj,
            )
        else:
            self.tracker = CpuBestTracker(self.dir.records)
        self.rounds: list[ConfidenceRound] = []
        self.seed: SeedDesign | None = None

    def _seed(self) -> None:
        """Run (or read back) the seeding tree search. The refine env's first episode starts
        from its best design; under turns its hardware joins every proposal round."""
        seeding = self.config.seeding
        if self.progress.checkpoint is None and seeding.method != SeedMethod.NONE:
            logger.info(
                "seeding: tree search (%s proposer) for %d evaluations",
                seeding.proposer,
                seeding.evaluations,
            )
        self.seed = seed_design(self.config, self.plan.env_config, progress=logger.info)
        if self.seed is None:
            return
        shown = "none" if self.seed.objective is None else f"{self.seed.objective:.4g}"
        logger.info(
            "seeding: %s, best %s %s after %d evaluations",
            "read back from the records" if self.seed.resumed else "done",
            self.config.env.objective.value,
            shown,
            self.seed.evaluations,
        )
        if self.config.codesign.formulation == Formulation.REFINE:
            env_config = {**self.plan.env_config, START_DESIGN_KEY: self.seed.env_value}
            self.plan = dataclasses.replace(self.plan, env_config=env_config)

    # -- setup --------------------------------------------------------------------------
    def _ray(self) -> str:
        cfg = self.config.ray
        temp = cfg.temp_dir or f"/tmp/dcoc-ray-{_pid()}"
        return start_ray(
            self.request.address or cfg.address, num_cpus=cfg.num_cpus, temp_dir=Path(temp)
        )

    def _trainer(self) -> PolicyTrainer:
        if self.request.resume:
            assert self.progress.checkpoint is not None
            path = self.dir.root / self.progress.checkpoint
            logger.info("resuming from %s (iteration %d)", path, self.progress.iteration)
            return PolicyTrainer.restore(path)
        trainer = PolicyTrainer.build(trainer_settings(self.config, self.plan))
        start = self.config.train.init_checkpoint
        if start is not None:
            logger.info("agents start from the weights of %s", start)
            try:
                trainer.load_modules(start, POLICY_COMPONENT)
            except ValueError as error:
                trainer.stop()
                raise ConfigError(
                    self.request.config_file, ("train", "init_checkpoint"), str(error)
                ) from None
        return trainer

    # -- loop ---------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        self._seed()
        mode = self._ray()
        logger.info("ray: %s; run directory %s", mode, self.dir.root)
        trainer = self._trainer()
        writer = SummaryWriter(log_dir=str(self.dir.tensorboard))
        proposal_env = None
        sampler = None
        conf = self.config.confidence
        try:
            turns = self.config.codesign.formulation == Formulation.TURNS
            if self.codesign and turns and conf.num_candidates > 0:
                proposal_env = make_recorded_codesign_env(
                    {**self.plan.env_config, RECORDS_METHOD_KEY: "confidence"}
                )
                sampler = PolicySampler(
                    trainer,
                    self.plan.agent_ids,
                    ConfidenceConfig(
                        num_candidates=conf.num_candidates,
                        keep_fraction=conf.keep_fraction,
                        logp_weight=conf.logp_weight,
                        value_weight=conf.value_weight,
                        agreement_weight=conf.agreement_weight,
                    ),
                    seed=self.config.experiment.seed + 7919 * self.progress.iteration,
                    joint=JointSpace.of(proposal_env) if self.config.agents.single_policy else None,
                )
            self.tracker.update()
            if self.seed is not None and self.seed.objective is not None:
                writer.add_scalar("seeding/objective", self.seed.objective, 0)
                writer.add_scalar("seeding/evaluations", float(self.seed.evaluations), 0)
            self._loop(trainer, writer, proposal_env, sampler)
        finally:
            writer.close()
            if proposal_env is not None:
                proposal_env.close()
            trainer.stop()
            stop_ray()
        return self._finish()

    def _loop(
        self,
        trainer: PolicyTrainer,
        writer: SummaryWriter,
        proposal_env: Any,
        sampler: PolicySampler | None,
    ) -> None:
        cfg, progress = self.config, self.progress
        started = time.monotonic()
        base_wall = progress.wall_time_s
        while progress.iteration < cfg.train.iterations:
            tick = time.monotonic()
            result = trainer.train() if cfg.train.learn else trainer.act()
            progress.iteration += 1
            step = progress.iteration
            scalars = rllib_scalars(result)
            progress.env_steps = int(scalars.get("charts/env_steps", progress.env_steps))
            if sampler is not None and proposal_env is not None:
                sampler.refresh()
                rnd = confidence_round(
                    proposal_env,
                    sampler,
                    enabled=cfg.confidence.enabled,
                    measure_skipped=cfg.confidence.measure_skipped,
                    seed=cfg.experiment.seed * 100_003 + step * 1009,
                    seed_hw=None if self.seed is None else self.seed.state["hw_action"],
                )
                self.rounds.append(rnd)
                progress.confidence_drawn += rnd.drawn
                progress.confidence_kept += rnd.kept
                progress.confidence_evaluations += rnd.evaluations
                progress.confidence_evaluations_saved += rnd.evaluations_saved
                scalars["confidence/acceptance"] = rnd.acceptance
                scalars["confidence/evaluations"] = float(rnd.evaluations)
                scalars["confidence/evaluations_saved"] = float(
                    progress.confidence_evaluations_saved
                )
                gap = rnd.quality_gap
                if gap is not None and math.isfinite(gap):
                    scalars["confidence/quality_gap"] = gap
            self.tracker.update()
            scalars.update(self._best_scalars())
            scalars["charts/evaluations"] = float(self.tracker.evaluations)
            scalars["charts/iteration_s"] = time.monotonic() - tick
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, step)
            writer.flush()
            progress.wall_time_s = base_wall + time.monotonic() - started
            mean_return = scalars.get("charts/episode_return_mean")
            best = self._best_value()
            progress.history.append(
                {
                    "iteration": step,
                    "env_steps": progress.env_steps,
                    "episode_return_mean": mean_return,
                    "best_objective": best[1] if best else None,
                    "evaluations": self.tracker.evaluations,
                }
            )
            logger.info(
                progress_line(
                    step,
                    progress.env_steps,
                    mean_return,
                    best,
                    self.tracker.evaluations,
                    progress.wall_time_s,
                )
            )
            last = step >= cfg.train.iterations or self._budget_spent(progress)
            if step % cfg.train.checkpoint_every == 0 or last:
                path = trainer.save(self.dir.checkpoint(step))
                progress.checkpoint = str(path.relative_to(self.dir.root.resolve()))
                progress.checkpoint_iteration = step
            progress.save(self.dir)
            if last:
                break

    def _budget_spent(self, progress: Progress) -> bool:
        train = self.config.train
        if train.max_evaluations is not None and self.tracker.evaluations >= train.max_evaluations:
            logger.info("evaluation budget of %d reached", train.max_evaluations)
            return True
        if train.time_limit_s is not None and progress.wall_time_s >= train.time_limit_s:
            logger.info("time limit of %.0f s reached", train.time_limit_s)
            return True
        return False

    def _best_value(self) -> tuple[str, float] | None:
        best = self.tracker.best
        if best is None:
            return None
        if isinstance(self.tracker, CpuBestTracker):
            return ("latency_s", self.tracker.best.latency_s)  # type: ignore[union-attr]
        return (self.config.env.objective.value, best.objective)  # type: ignore[union-attr]

    def _best_scalars(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if isinstance(self.tracker, CpuBestTracker):
            if self.tracker.best is not None:
                out["charts/best_latency_s"] = self.tracker.best.latency_s
            return out
        best = self.tracker.best
        if best is None:
            return out
        out["charts/best_objective"] = best.objective
        out["charts/best_edp"] = best.edp
        out["charts/best_cycles"] = best.cycles
        out["charts/best_energy_pj"] = best.energy_pj
        out["charts/best_area_um2"] = best.area_um2
        for knob, value in best.hw.items():
            out[f"hw/{knob}"] = float(value)
        if self.seed is not None and self.seed.objective:
            out["seeding/best_over_seed"] = best.objective / self.seed.objective
        return out

    # -- end ----------------------------------------------------------------------------
    def _finish(self) -> dict[str, Any]:
        self.tracker.update()
        exported: ExportedDesign | None = None
        if isinstance(self.tracker, CpuBestTracker):
            if self.tracker.best is not None:
                exported = export_schedule(self.tracker.best, self.dir.root)
        elif self.tracker.best is not None:
            exported = export_codesign(
                self.tracker.best,
                self.plan.env_config,
                self.dir.root,
                self.config.env.objective.value,
            )
        p = self.progress
        summary: dict[str, Any] = {
            "experiment": self.config.experiment.name,
            "seed": self.config.experiment.seed,
            "mode": self.config.mode.value,
            "workload": self.config.env.workload,
            "objective": "latency" if not self.codesign else self.config.env.objective.value,
            "best_objective": exported.summary["best_objective"] if exported else None,
            "best": exported.summary if exported else None,
            "files": exported.files if exported else {},
            "iterations": p.iteration,
            "env_steps": p.env_steps,
            "evaluations": self.tracker.evaluations,
            "wall_time_s": p.wall_time_s,
            "checkpoint": p.checkpoint,
            "records": self.dir.records.name,
            "confidence": {
                "enabled": self.config.confidence.enabled,
                "drawn": p.confidence_drawn,
                "kept": p.confidence_kept,
                "evaluations": p.confidence_evaluations,
                "evaluations_saved": p.confidence_evaluations_saved,
                "quality_gap_mean": _mean_gap(self.rounds),
            },
        }
        summary["seeding"] = None if self.seed is None else self.seed.summary()
        if isinstance(self.tracker, CpuBestTracker):
            summary["failed"] = self.tracker.failed
        self.dir.summary.write_text(json.dumps(summary, indent=1, default=_json_default))
        return summary


def _mean_gap(rounds: list[ConfidenceRound]) -> float | None:
    gaps = [r.quality_gap for r in rounds if r.quality_gap is not None]
    finite = [g for g in gaps if math.isfinite(g)]
    return sum(finite) / len(finite) if finite else None


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _pid() -> int:
    import os

    return os.getpid()


def run(request: RunRequest) -> dict[str, Any]:
    """Train (or resume) one run; return its summary (also written to ``summary.json``)."""
    return Run(request).execute()
