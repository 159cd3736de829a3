"""Systems as data: defaults, inheritance, overrides and the one resolved form.

A system file names its parent with ``include:`` and overrides only what differs;
dictionaries merge key by key, lists and scalars replace, and a component (head, fusion,
text encoder, loss) that names a different plugin than its parent's starts afresh: the
parent's settings were for the other plugin. The resolved configuration
(defaults ← ancestors ← system ← ``--set`` overrides) is what runs and what every result
records.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from benchmark.errors import BenchError

if TYPE_CHECKING:
    from benchmark.hookspecs import Register
    from benchmark.plugins import PluginManager

#: Defaults every system starts from. The core names no concrete plugin: experts, head,
#: fusion, text encoder and loss must come from the system files.
DEFAULTS: dict[str, Any] = {
    "description": "",
    # Frozen audio experts, each {name: <expert plugin>, ...settings}.
    "experts": [],
    # Temporal head applied to each expert's frames: {name: <head plugin>, ...settings}.
    "head": None,
    # How expert vectors and caption embeddings become similarities.
    "fusion": None,
    # Caption encoder; `trainable: false` caches caption embeddings once per split.
    "text_encoder": None,
    # Training objective: {name: <loss plugin>, ...settings}.
    "loss": None,
    # AdamW with the report's learning rate.
    "optimizer": {"name": "adamw", "lr": 1.0e-4, "weight_decay": 0.01},
    # The report counts epochs of 16 steps each.
    "schedule": {"epochs": 30, "steps_per_epoch": 16},
    # Optional pre-training stage before training on the run's dataset:
    # {datasets: [name or {name, options}], epochs: N}. Training clips are sampled from
    # the datasets with equal frequency; the selected checkpoint initialises the main stage
    # (the report: AudioCaps + mined Freesound for 288 epochs, then Clotho for 8).
    "pretrain": None,
    # Clips per batch (the report's 512); every caption of each clip is used, in training and
    # validation alike, also when clips have different numbers of them (AudioCaps: one per
    # training clip, five per validation clip): s_ij averages over clip j's own captions.
    "batch_size": 512,
    # Validation metrics tracked for checkpoint selection: val_loss (lower is better),
    # m1 / m2 (within-batch text->audio / audio->text ranking accuracy, higher is better).
    # `select` picks which one the evaluation uses; `keep` best checkpoints per metric.
    "checkpoint": {"monitor": ["val_loss", "m1", "m2"], "select": "val_loss", "keep": 1},
    # 16-bit autocast when training on CUDA (the report); ignored on CPU.
    "mixed_precision": True,
    # Settings merged over the above when training on a CPU, where the report's setup
    # (batch 512, fine-tuned caption encoder) would take hours. The result records the
    # configuration actually used, and the leaderboard marks such rows.
    "cpu_overrides": {},
}

#: Keys a system may set that are absent from the configuration of a system that does not,
#: so adding one never changes the configuration (and the results' key) of existing systems.
OPTIONAL: dict[str, str] = {
    # The dataset protocol the system's source trained under (the report's `report`): a run
    # under another protocol prints a one-line hint, and goes ahead.
    "protocol": "the dataset protocol of the system's source",
}
KNOWN = (*DEFAULTS, *OPTIONAL)

COMPONENTS: dict[str, str] = {
    "head": "heads",
    "fusion": "fusions",
    "text_encoder": "text_encoders",
    "loss": "losses",
}


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``: dicts merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> Any:
    """A SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 reads it as a string)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
        list("-+0123456789."),
    )
    return Loader


def yaml_load(text: str) -> Any:
    """``yaml.safe_load``, except that ``1e-4`` is a float."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass


def parse_value(text: str, option: str) -> Any:
    """The YAML value of a command-line ``KEY=VALUE`` (``3``, ``true``, ``[a, b]``); a
    syntax error or a tag (``!!python/...``) is refused naming ``option``."""
    import yaml

    try:
        return yaml_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BenchError(f"{option}: not a YAML value ({problem}); use plain YAML such as 3, true, [a, b] or 'a string'") from None


def load_system_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BenchError(f"cannot read system file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise BenchError(f"system file {path} must hold a mapping of settings")
    return data


def register_system_files(register: Register, directory: Path) -> None:
    """Register every ``*.yaml`` file in ``directory`` as a system named by its file stem,
    described in ``bench list`` by its description's first sentence (a period followed by a
    capital ends it; "et al. (2021)" does not)."""
    import re

    for path in sorted(Path(directory).glob("*.yaml")):
        description = load_system_file(path).get("description", "")
        register(path.stem, path, description=re.split(r"\.\s+(?=[A-Z])", description)[0].rstrip("."))


def _raw_system(name: str, manager: PluginManager) -> dict[str, Any]:
    target = manager.load("systems", name)
    if isinstance(target, Mapping):
        return copy.deepcopy(dict(target))
    if isinstance(target, (str, Path)):
        return load_system_file(Path(target))
    raise BenchError(f"system {name!r} is registered with a {type(target).__name__}; expected a mapping or a YAML path")


def resolve_system(
    name: str,
    manager: PluginManager,
    overrides: Sequence[str] = (),
    device_type: str | None = None,
    expert_weights: str | None = None,
) -> dict[str, Any]:
    """The resolved configuration of system ``name`` (see module docstring).

    With ``device_type="cpu"`` the system's ``cpu_overrides`` are merged in before the
    ``--set`` overrides, so an explicit ``--set`` always wins. ``expert_weights``
    (``pretrained`` or ``random``, the ``--expert-weights`` flag) sets the ``weights``
    option of every expert that has pretrained weights.
    """
    chain: list[dict[str, Any]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise BenchError(f"system {name!r} includes itself: {' -> '.join([*seen, current])}")
        seen.append(current)
        raw = _raw_system(current, manager)
        parent = raw.pop("include", None)
        chain.append(raw)
        current = parent
    config = copy.deepcopy(DEFAULTS)
    for raw in reversed(chain):
        unknown = sorted(set(raw) - set(KNOWN))
        if unknown:
            raise BenchError(
                f"system {seen[chain.index(raw)]!r} sets unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(KNOWN)}"
            )
        config = merge(_drop_replaced_components(config, raw), raw)
    on_cpu = device_type == "cpu" and bool(config["cpu_overrides"])
    if on_cpu:
        config = merge(config, config["cpu_overrides"])
    config = apply_overrides(config, overrides)
    config = {"name": name, "inherits": seen[1:], **normalise(config)}
    if on_cpu:
        config["cpu_overrides_applied"] = True
    validate(config, manager, name)
    if expert_weights is not None:
        set_expert_weights(config, manager, expert_weights)
    return config


def _drop_replaced_components(config: dict[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the components ``child`` switches to another plugin."""
    def plugin(spec: Any) -> str | None:
        return spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, Mapping) else None

    config = dict(config)
    for key in COMPONENTS:
        if plugin(child.get(key)) not in (None, plugin(config.get(key))):
            config[key] = None
    return config


def set_expert_weights(config: dict[str, Any], manager: PluginManager, weights: str) -> None:
    """Set ``weights`` on every expert in ``config`` whose class has pretrained weights, and
    on the caption encoder when its class has them too (a CLAP text tower shares its
    expert's checkpoint, so an offline smoke run needs both random)."""
    if weights not in ("pretrained", "random"):
        raise BenchError(f"--expert-weights {weights!r}: choose pretrained or random")
    parts = [("experts", expert) for expert in config["experts"]]
    if config.get("text_encoder"):
        parts.append(("text_encoders", config["text_encoder"]))
    for kind, spec in parts:
        if getattr(manager.load(kind, component(spec)["name"]), "pretrained", False):
            spec["weights"] = weights


def zero_shot(config: Mapping[str, Any]) -> bool:
    """Whether a system trains nothing (``schedule.epochs`` 0): its pretrained parts are
    scored as they are, with no loss and no checkpoint."""
    return int(config["schedule"]["epochs"]) == 0


def training_summary(config: dict[str, Any]) -> str:
    """What a configuration trains, in one line: the schedule, any pre-training, and the
    protocol its source used, so ``bench show`` tells a paper's recipe from a shorter run."""
    schedule = config["schedule"]
    main = f"trains {schedule['epochs']} epochs of {schedule['steps_per_epoch']} steps on the run's dataset"
    if zero_shot(config):
        main = "trains nothing (zero-shot): scored as its pretrained parts are"
    pretrain = config.get("pretrain")
    if pretrain:
        names = "+".join(component(d)["name"] for d in pretrain["datasets"])
        main = f"pre-trains {pretrain['epochs']} epochs on {names} (equal sampling), then {main}"
    else:
        main = f"{main}, without pre-training"
    protocol = config.get("protocol")
    return f"{main}; " + (f"its source used the {protocol!r} protocol (-D protocol={protocol})" if protocol
                          else "under the dataset's protocol (-D protocol=…)")


def parse_overrides(overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """``dotted.key=value`` overrides as ``(dotted.key, value)`` pairs in the order given, each
    value parsed as YAML (``3``, ``true``, ``[a, b]``): what they mean, whatever their spelling.
    A malformed one, or one of an unknown top-level key, is refused naming it."""
    pairs = []
    for override in overrides:
        key, sep, raw_value = override.partition("=")
        if not sep or not key:
            raise BenchError(f"--set {override!r}: expected KEY=VALUE, e.g. schedule.epochs=5")
        key = key.strip()
        if key.split(".")[0] not in KNOWN:
            raise BenchError(f"--set {override!r}: unknown key {key.split('.')[0]!r}; known keys: {', '.join(KNOWN)}")
        pairs.append((key, parse_value(raw_value, f"--set {override!r}")))
    return pairs


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides (:func:`parse_overrides`), in order."""
    config = copy.deepcopy(config)
    for key, value in parse_overrides(overrides):
        parts = key.split(".")
        node = config
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return config


def component(spec: Any) -> dict[str, Any]:
    """``"ranking"`` or ``{name: ranking, margin: 0.2}`` → the dict form."""
    if isinstance(spec, str):
        return {"name": spec}
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return dict(spec)
    raise BenchError(f"expected a plugin name or a mapping with 'name', got {spec!r}")


def normalise(config: dict[str, Any]) -> dict[str, Any]:
    experts = config.get("experts") or []
    if not isinstance(experts, list):
        raise BenchError("'experts' must be a list of expert names or {name: …} mappings")
    config["experts"] = [component(e) for e in experts]
    for key in COMPONENTS:
        if config.get(key) is not None:
            config[key] = component(config[key])
    return config


#: The arguments the harness itself passes to each component's plugin.
FIXED_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "head": ("input_dim", "output_dim"),
    "fusion": ("n_experts", "dim"),
    "text_encoder": ("trainable",),
    "loss": (),
}


def validate(config: dict[str, Any], manager: PluginManager, name: str) -> None:
    """Check that every plugin the system names is installed (with 'did you mean') and
    takes the options given, and that every core setting has its type and range
    (:mod:`benchmark.settings`)."""
    from benchmark import settings

    if not config["experts"]:
        raise BenchError(f"system {name!r} lists no experts")
    for key in COMPONENTS:
        if config.get(key) is None and not (key == "loss" and zero_shot(config)):
            also = " (only a zero-shot system, schedule.epochs 0, leaves it out)" if key == "loss" else ""
            raise BenchError(f"system {name!r} does not set {key!r}{also}")
    settings.check(config)
    for expert in config["experts"]:
        manager.check("experts", expert, "system 'experts'")
    for key, kind in COMPONENTS.items():
        if config[key] is None:  # the loss of a zero-shot system
            continue
        spec = {k: v for k, v in config[key].items() if not (key == "text_encoder" and k == "trainable")}
        manager.check(kind, spec, f"system {key!r}", FIXED_ARGUMENTS[key])
    for dataset in (config["pretrain"] or {}).get("datasets", []):
        manager.get("datasets", component(dataset)["name"])
