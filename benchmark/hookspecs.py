"""The plugin contract: every hook a bench plugin can implement.

A plugin is a module (or object) exposed through the ``bench`` entry-point group
in its distribution's metadata::

    [project.entry-points.bench]
    my_expert = "my_package.plugin"

and decorated with :data:`hookimpl`::

    from benchmark.api import hookimpl

    @hookimpl
    def register_experts(register):
        register("my_expert", "my_package.model:MyExpert", description="...")

Every ``register_*`` hook is called once, when the harness first needs its kind of
plugin, with a ``register`` callback. ``register(name, target, **metadata)``:

- ``name``: the name users type (``--system``, system files, ``bench list``). Names are
  global per kind: two plugins registering the same name is an error naming both.
- ``target``: either the object itself or a lazy ``"module:attribute"`` string. Prefer the
  string: it is imported only when the plugin is used, so ``bench list`` stays fast and a
  broken heavy dependency only breaks the plugins that need it.
- ``metadata``: free-form keywords; ``description`` is shown by ``bench list``.

Plugins never touch the harness's registries directly. What each kind of target must be
is documented on its hook. A target reports bad input by raising
:class:`benchmark.api.BenchError` with a message that names the culprit (an option, a
file) but not the plugin: the harness starts it with the plugin's kind and registered
name (``dataset 'folder': …``). :mod:`benchmark.api` is the one module a plugin imports from:
the matching base classes and protocols, the data the harness hands over, and the helpers
a plugin may call (downloads, archives, weights, dataset files).
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT = "bench"
ENTRY_POINT_GROUP = "bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback handed to every ``register_*`` hook."""

    def __call__(self, name: str, target: Any, **metadata: Any) -> None: ...



@hookspec
def register_experts(register: Register) -> None:
    """Register frozen audio experts.

    Target: a class (or factory) called with the expert's settings from the system
    configuration as keyword arguments, returning an :class:`benchmark.api.Expert`: an
    object with ``sample_rate``, ``dim``, ``settings()`` and ``embed(waveforms)``, which
    maps a list of mono float32 waveforms at ``sample_rate`` to one ``(frames, dim)``
    array per waveform. Expert outputs are cached on disk, keyed by the expert name and
    ``settings()``, so ``settings()`` must include everything that changes the output.

    Experts with downloadable weights set ``pretrained = True`` and take a ``weights``
    option (``pretrained``, ``random`` or a file path), which ``--expert-weights`` sets;
    :class:`benchmark.api.PretrainedExpert` implements this, the download and checksum
    checks of its :class:`benchmark.api.WeightFile` files and the cache key. Before
    extraction the harness sets the expert's ``device`` attribute to the run's torch
    device type.
    """


@hookspec
def register_heads(register: Register) -> None:
    """Register temporal heads: the trainable module that turns one expert's frame
    sequence into a single vector.

    Target: a factory ``(input_dim, output_dim, **settings) -> torch.nn.Module`` whose
    module maps ``(frames [B, T, input_dim], lengths [B])`` to ``[B, output_dim]``.
    Frames past each clip's length are padding and must not change the output.
    """


@hookspec
def register_fusions(register: Register) -> None:
    """Register fusions: how the per-expert vectors meet the caption embeddings.

    Target: a factory ``(n_experts, dim, **settings) -> torch.nn.Module`` whose module maps
    ``(expert_vectors: list of [n_audio, dim], text [n_text, dim])`` to the similarity
    matrix ``[n_audio, n_text]`` used for training and retrieval. Owning the similarity
    (not only the audio embedding) lets a fusion weight experts per caption.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register training losses.

    Target: a factory ``(**settings) -> torch.nn.Module`` whose module maps a
    :class:`benchmark.api.LossInput` (similarities of each audio in the batch to every
    caption of every clip in the batch, plus the clips' dataset indices) to a scalar
    tensor. Clips may have different numbers of captions: the similarities are then padded
    to the most of any clip in the batch and ``LossInput.mask`` marks the captions there
    are (None when nothing is padded); ``clip_similarity()`` averages each clip's own, and
    a loss that takes captions one by one skips the padded slots. A loss that needs
    per-dataset statistics implements ``prepare(context)``, called once before training
    with a :class:`benchmark.api.LossContext` (under torchrun, on rank 0 first, so disk
    caches are filled once). A loss that derives values from that data (thresholds,
    statistics) reports them with ``evidence() -> dict[str, Any]``: JSON values, called
    once after ``prepare``, recorded in the result as ``loss_evidence`` so a number shows
    what it rests on (the ranking loss: its CIDEr thresholds and how they were
    estimated). Under torchrun the batch is
    the global one, gathered from every rank, and the clip indices are global: a loss
    needs no distributed code of its own.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets.

    Target: a class called with the dataset options (``--dataset-option key=value``) as
    keyword arguments, returning a :class:`benchmark.api.Dataset`: it prepares its files
    under a data directory (download, verify, generate) and lists each split as a
    :class:`benchmark.api.Split` (audio files with captions). Its ``protocol`` maps the
    roles train, validation and test to split names (``a+b`` for a union) and
    ``protocol_name`` names it in results;
    ``storage_options()`` are the options that change the files on disk (they name the
    data directory and the feature caches), ``report(data_dir)`` returns lines for
    ``bench prepare`` to print (leaked or missing clips), and ``source()`` says where the
    files came from and how they were checked (recorded with every result, part of no
    key: audio a user extracted, a local folder read in place). A dataset whose options do
    not fix its content (files a user can edit) returns its ``fingerprint(data_dir)``, so
    results and features of other content never share a key. A dataset with relevance
    judgements returns, from ``relevance(data_dir, split)``, the other clips relevant to each
    caption, optionally graded; ``duplicate_captions_relevant = False`` stops identical captions on different
    clips from counting as relevant to each other. Downloads should go through
    :func:`benchmark.api.fetch` (verified, resumable, atomic, offline-aware) and
    archives through :func:`benchmark.api.extract` (members outside the target refused).
    A dataset in Clotho's layout subclasses :class:`benchmark.api.ClothoLayoutDataset`.
    """


@hookspec
def register_text_encoders(register: Register) -> None:
    """Register caption encoders.

    Target: a factory ``(trainable: bool, **settings)`` returning a
    :class:`benchmark.api.TextEncoder`: a ``torch.nn.Module`` with ``dim``, ``settings()``
    and ``forward(captions: list[str])`` returning ``[n, dim]`` embeddings.
    """


@hookspec
def register_plots(register: Register) -> None:
    """Register figures for ``bench plot NAME --dataset D``.

    Target: a callable ``(dataset: benchmark.api.PreparedDataset, output: Path,
    cache_dir: Path) -> None`` that writes one image to ``output``; the dataset is
    prepared before the call.
    """


@hookspec
def register_miners(register: Register) -> None:
    """Register miners: steps that gather extra training pairs from outside a dataset, for
    ``bench mine NAME -O key=value …`` (the report's Freesound mining is one).

    Target: a class called with the miner's options (``-O`` values, parsed as YAML scalars),
    which checks them before any work starts and raises :class:`benchmark.api.BenchError`
    naming a bad one. Its ``run(ctx: benchmark.api.MineContext) -> list[str]`` writes what it
    mined under ``ctx.output`` (resuming what an earlier, interrupted call left there) and
    returns the lines ``bench mine`` prints: what was kept, and where it is.
    """


@hookspec
def register_systems(register: Register) -> None:
    """Register systems: named configurations assembled from the other plugins.

    Target: a mapping (the configuration itself) or a path to a YAML file holding one.
    A configuration may name a parent with ``include: <system>`` and override only the
    keys that differ; dictionaries merge key by key, lists and scalars replace.
    ``bench show SYSTEM`` prints the resolved form.
    """
