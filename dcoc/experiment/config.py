"""The experiment configuration of ``python -m dcoc.train``: typed frozen dataclasses, one per
YAML section. Field docstrings are the ``--help`` text (:func:`dcoc.experiment.loader.
describe_config`); :mod:`dcoc.experiment.loader` fills them from YAML and ``--set`` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dcoc.objective import Objective


class Mode(StrEnum):
    """What the agents optimize."""

    CODESIGN = "codesign"
    """Accelerator hardware + per-layer mappings, scored by the accelerator model."""
    CPU_SCHEDULE = "cpu_schedule"
    """TVM schedules of one layer on this CPU, built and measured for real (no hardware agent)."""


class Formulation(StrEnum):
    """How the co-design agents act (codesign mode)."""

    TURNS = "turns"
    """Each episode builds a design: hw picks every knob once, then sw_tile and sw_order pick
    each layer's mapping (dcoc.envs.codesign)."""
    REFINE = "refine"
    """Each episode refines the incumbent design move by move, every agent choosing among
    ranked candidate moves (dcoc.envs.codesign_refine)."""


class SeedMethod(StrEnum):
    """Where the co-design agents' first episode starts (codesign.formulation: refine)."""

    NONE = "none"
    """A uniformly random design whose hardware fits the area budget."""
    MCTS = "mcts"
    """The best design of the tree search (python -m dcoc.search --method mcts) run before
    training."""


class Critic(StrEnum):
    CENTRALIZED = "centralized"
    INDEPENDENT = "independent"


@dataclass(frozen=True)
class ExperimentSection:
    name: str = "experiment"
    """Experiment name; the default run directory is runs/{name}__{seed}__{YYYYmmdd-HHMMSS}."""
    seed: int = 0
    """Seed of RLlib, the environments and confidence sampling."""


@dataclass(frozen=True)
class EnvSection:
    workload: str = "resnet18/C5"
    """NET/LAYER (one layer), NET (all layers), NET.SUBSET (resnet18.vta = C2-C11), a
    comma-separated list of NET/LAYER names, or (cpu_schedule) an inline shape matmul:M,N,K."""
    objective: Objective = Objective.EDP
    """codesign: what the design minimizes (edp, latency = cycles, energy)."""


@dataclass(frozen=True)
class CodesignSection:
    design_space: str = "accel_specs/eyeriss_like.space.yaml"
    """Hardware design-space file (knobs, template, area budget); relative paths that do not
    exist from the working directory are taken relative to the dcoc repository."""
    area_budget_um2: float | None = None
    """Area budget tighter than the space file's (the smaller applies); null: the file's."""
    energy_budget_pj: float | None = None
    """Energy per inference the design may not exceed; null: no budget."""
    rounds_per_layer: int = 1
    """Tile/order attempts per layer and episode (the design keeps each layer's best)."""
    reference_samples: int = 48
    """Random mappings per layer on the template hardware; their best is the reward's
    reference."""
    invalid_reward: float = -8.0
    """Reward of an invalid mapping or an over-budget design."""
    formulation: Formulation = Formulation.TURNS
    """turns: episodes build designs; refine: episodes refine the incumbent move by move."""
    refine_steps: int = 28
    """refine: agent steps per episode. The confidence proposal phase runs with turns only:
    under refine every step's candidates are ranked by the free estimate and only the chosen
    one is evaluated."""
    refine_candidates: int = 8
    """refine: candidate moves each step chooses among."""
    refine_hw_every: int = 7
    """refine: the hardware agent acts every this many steps."""
    refine_patience: int = 5
    """refine: episodes in a row without a better incumbent before the next starts from a
    perturbed incumbent (a knob step and random layer moves); 0: never."""


@dataclass(frozen=True)
class CpuSection:
    candidates_per_episode: int = 8
    """cpu_schedule: schedules (one sw_tile + one sw_order action each) per episode."""
    workers: int = 1
    """Measurement worker processes per environment."""
    repeat: int = 3
    """Timed repetitions per candidate (the median counts)."""
    min_repeat_ms: int = 10
    """Minimum duration of one repetition."""
    num_threads: int = 1
    """Threads of the measured program."""
    build_timeout_s: float = 60.0
    """A candidate whose build takes longer fails."""
    run_timeout_s: float = 30.0
    """A candidate whose timed run takes longer fails."""


@dataclass(frozen=True)
class AgentsSection:
    critic: Critic = Critic.CENTRALIZED
    """centralized: one shared critic on the global state (MAPPO); independent: a value head
    per agent (IPPO ablation)."""
    single_policy: bool = False
    """codesign: one PPO policy with its own value head takes every decision (hardware, each
    layer's tiling and order) on the joint view of the env (dcoc.envs.codesign_joint; method
    ppo of python -m dcoc.search); needs critic: independent. Evaluations are recorded as for
    three agents, and the confidence proposal phase still runs: the one policy drafts the
    hardware candidates and maps them, asked in each role's turn."""
    lr: float = 3e-4
    """Adam learning rate of every module."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    train_batch_size: int = 1000
    """Agent steps per learner update."""
    minibatch_size: int = 128
    """Agent steps per SGD minibatch."""
    num_epochs: int = 4
    """Passes over each train batch."""
    entropy_coeff: float = 0.01
    """Entropy bonus of the PPO loss."""
    clip_param: float = 0.2
    """PPO's ratio clip."""
    vf_loss_coeff: float = 0.5
    """Weight of the value loss."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Hidden layer widths of every actor and of the critic."""
    num_env_runners: int = 0
    """Remote RLlib EnvRunners; 0 samples in the driver process (best on a laptop)."""
    num_envs_per_env_runner: int = 1
    """Vectorized env copies per EnvRunner."""


@dataclass(frozen=True)
class ConfidenceSection:
    enabled: bool = True
    """After every training iteration, draw num_candidates hardware designs from the hw policy
    and evaluate (map every layer with the sw policies) only the most confident keep_fraction;
    false: evaluate all of them (the ablation)."""
    num_candidates: int = 16
    """K, hardware candidates drawn per iteration (0 turns the proposal phase off)."""
    keep_fraction: float = 0.25
    """Share of the K candidates sent to the evaluator (at least one)."""
    logp_weight: float = 1.0
    """Weight of the candidate's log-probability under the hw policy."""
    value_weight: float = 0.0
    """Weight of the centralized critic's value of the state the candidate leads to (needs
    agents.critic: centralized)."""
    agreement_weight: float = 0.0
    """Weight of the share of the K candidates that chose the same hardware."""
    measure_skipped: bool = True
    """codesign: also evaluate the skipped candidates, outside the budget and recorded as
    method confidence_skipped, to report what the filter cost in quality."""


@dataclass(frozen=True)
class SeedingSection:
    method: SeedMethod = SeedMethod.NONE
    """mcts: before training, the tree search designs for seeding.evaluations model
    evaluations (recorded as method mcts_seed and counted in train.max_evaluations); under
    codesign.formulation: refine the agents' first episode refines its best design, under
    turns its hardware is evaluated with the kept candidates of every proposal round; none:
    no seed."""
    proposer: str = "heuristic"
    """The seeding tree search's proposer: random, heuristic or llm (the embedded model, or an
    endpoint named by DCOC_LLM_BASE_URL and DCOC_LLM_MODEL)."""
    evaluations: int = 2000
    """Model evaluations the seeding tree search spends."""


@dataclass(frozen=True)
class TrainSection:
    iterations: int = 10
    """Training iterations (each: sample train_batch_size agent steps, update, propose)."""
    max_evaluations: int | None = None
    """Stop once the records database holds this many budgeted evaluations; null: no limit."""
    time_limit_s: float | None = None
    """Stop after this many seconds of wall time; null: no limit."""
    checkpoint_every: int = 5
    """Save an RLlib checkpoint every N iterations (and always after the last)."""
    init_checkpoint: str | None = None
    """Start the agents from this checkpoint's weights (``RUN_DIR/checkpoints/iter_NNNN`` of an
    earlier run with the same agents, critic and design space; the layer set may differ: a
    policy carried to a network it never saw). null: freshly initialized policies."""
    learn: bool = True
    """Update the policies from what they sample; false: they act as loaded (or, without
    ``init_checkpoint``, as initialized: near-uniform over the candidates, the ablation that
    tells what learning adds), sampling ``agents.train_batch_size`` steps per iteration."""


@dataclass(frozen=True)
class RaySection:
    address: str | None = None
    """Ray cluster to attach to (also $RAY_ADDRESS or --address); null: embedded Ray."""
    num_cpus: int | None = 2
    """CPUs of the embedded Ray; null: all of this machine's."""
    temp_dir: str | None = None
    """Embedded Ray's session directory; null: /tmp/dcoc-ray-<pid>."""


@dataclass(frozen=True)
class ExperimentConfig:
    experiment: ExperimentSection = field(default_factory=ExperimentSection)
    mode: Mode = Mode.CODESIGN
    """codesign (accelerator hardware + mappings) or cpu_schedule (TVM schedules on this CPU)."""
    env: EnvSection = field(default_factory=EnvSection)
    codesign: CodesignSection = field(default_factory=CodesignSection)
    cpu: CpuSection = field(default_factory=CpuSection)
    agents: AgentsSection = field(default_factory=AgentsSection)
    confidence: ConfidenceSection = field(default_factory=ConfidenceSection)
    seeding: SeedingSection = field(default_factory=SeedingSection)
    train: TrainSection = field(default_factory=TrainSection)
    ray: RaySection = field(default_factory=RaySection)
