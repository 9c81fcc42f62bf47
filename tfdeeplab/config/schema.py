"""The recipe schema: typed, frozen dataclasses with every default in one place.

A recipe YAML file maps 1:1 onto `Recipe`. Field metadata carries what the generic
loader (`tfdeeplab.config.typed`) checks for every field (`choices`, `minimum`,
`length`, `item_length`); each class's `check()` adds the rules that relate several
fields. Both raise `SchemaError(key, message)`, which the loader turns into one line
naming the recipe file and the full key path. Allowed depths, output strides, stage
names and datasets come from the tables that define them
(`tfdeeplab.catalog.resnet_layout`, `tfdeeplab.catalog.datasets`).

Defaults are the seed's values (SPEC §2-§4): the DCN-paper DeepLab on ResNet-v1-101 at
output stride 16, PASCAL VOC 2012 + SBD, 321x321 crops, batch 10, EPOCH_SCALE 4.
"""

from __future__ import annotations

import dataclasses
import math

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.catalog.resnet_layout import (
    OUTPUT_STRIDES,
    RESNET_UNITS,
    STAGE_NAMES,
    resnet_unit_names,
)

# The two piecewise schedule families the project contrasts (SPEC §3), as
# (scaled epoch, learning rate) pairs: lr_k applies while epoch < e_k.
SCHEDULE_FAMILIES = {
    "tf_style": ((3.0, 1e-4), (5.0, 1e-5), (7.0, 8e-6)),
    "mxnet_style": ((4.0, 1e-3), (6.0, 1e-4)),
}


class SchemaError(ValueError):
    """A recipe value that does not fit the schema.

    Args:
        key: str. Dotted key path relative to the object that raised it.
        message: str. What was expected and what was found.
    """

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _field(default, **checks):
    """A dataclass field whose metadata holds generic checks for the loader."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults: recipes are frozen")
    return dataclasses.field(default=default, metadata=checks)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What `tfdeeplab.models.build_model` builds.

    Args:
        num_classes: int or None. Output classes; None in a recipe file for the
            dataset's (21 for VOC, 19 for Cityscapes).
        depth: int. ResNet-v1 depth, one of 50, 101, 152.
        units_per_stage: tuple of int. Units of res2..res5 instead of the depth's
            standard counts (small networks for tests and demos); empty for standard.
        output_stride: int. Input size / feature size: 8, 16 or 32 (SPEC §2).
        stem_pool_padding: int. Padding of the stem's 3x3 ceil-mode max-pool: 0 for
            the MSRA/DCN lineage, 1 for DeepLab v2's Caffe model.
        batch_norm: str. `frozen` (fixed affine from the moving statistics, also in
            training), `train` (ordinary) or `sync` (statistics across replicas).
        batch_norm_epsilon: float. BatchNorm epsilon.
        batch_norm_momentum: float. Moving-average momentum in `train`/`sync` modes.
        frozen_stages: tuple of str. Stages whose weights are not trained.
        deformable_units: tuple of str. Residual units (e.g. `res5a`) whose 3x3
            conv (branch2b) is a deformable convolution (DCN v1).
        deformable_groups: int. Deformable groups of those convolutions.
        head: str. `dcn_deeplab` (fc6 + score, SPEC head A) or `aspp_v2` (SPEC head B).
        fc6_channels: int. Width of the `dcn_deeplab` fc6 layer.
        atrous_rates: tuple of int. Dilation rates of the `aspp_v2` branches.
        upsampling: str. How logits reach input size: `deconv` (fixed bilinear
            transposed conv, kernel 2*stride, cropped, as the seed) or `interp`
            (align-corners bilinear resize, as DeepLab v2's Caffe Interp layer).
        msc_scales: tuple of float. Multi-scale inputs (DeepLab v2 MSC), the first
            being 1.0; empty for a single-scale model.
        head_init_stddev: float. Standard deviation of the head's normal init.
        head_kernel_lr_multiplier: float. Learning-rate multiplier of head kernels.
        head_bias_lr_multiplier: float. Learning-rate multiplier of head biases.
    """

    num_classes: int | None = _field(None, minimum=1)
    depth: int = _field(101, choices=tuple(RESNET_UNITS))
    units_per_stage: tuple[int, ...] = _field((), minimum=1)
    output_stride: int = _field(16, choices=OUTPUT_STRIDES)
    stem_pool_padding: int = _field(0, choices=(0, 1))
    batch_norm: str = _field("frozen", choices=choices.BATCH_NORMS)
    batch_norm_epsilon: float = _field(1e-5, minimum=0.0)
    batch_norm_momentum: float = _field(0.9, minimum=0.0)
    frozen_stages: tuple[str, ...] = _field(("conv1", "res2"), choices=STAGE_NAMES)
    deformable_units: tuple[str, ...] = _field(())
    deformable_groups: int = _field(1, minimum=1)
    head: str = _field("dcn_deeplab", choices=choices.HEADS)
    fc6_channels: int = _field(1024, minimum=1)
    atrous_rates: tuple[int, ...] = _field((6, 12, 18, 24), minimum=1)
    upsampling: str = _field("deconv", choices=choices.UPSAMPLINGS)
    msc_scales: tuple[float, ...] = _field((), minimum=0.0)
    head_init_stddev: float = _field(0.01, minimum=0.0)
    head_kernel_lr_multiplier: float = _field(1.0, minimum=0.0)
    head_bias_lr_multiplier: float = _field(2.0, minimum=0.0)

    def check(self) -> None:
        if self.batch_norm_momentum >= 1.0:
            raise SchemaError(
                "batch_norm_momentum",
                f"expected a value below 1, got {self.batch_norm_momentum}",
            )
        if self.units_per_stage and len(self.units_per_stage) != 4:
            raise SchemaError(
                "units_per_stage",
                f"expected 4 counts (res2..res5), got {list(self.units_per_stage)}",
            )
        names = resnet_unit_names(self.depth, self.units_per_stage or None)
        known = {name for stage in names.values() for name in stage}
        for unit in self.deformable_units:
            if unit not in known:
                raise SchemaError(
                    "deformable_units",
                    f"expected unit names of ResNet-{self.depth} such as res5a, "
                    f"got {unit!r}",
                )
        if "atrous_rates" in choices.HEAD_OPTIONS[self.head] and not self.atrous_rates:
            raise SchemaError(
                "atrous_rates", f"expected at least one rate for {self.head}"
            )
        if self.msc_scales and self.msc_scales[0] != 1.0:
            raise SchemaError(
                "msc_scales",
                f"expected the first scale to be 1.0, got {self.msc_scales[0]}",
            )
        if len(set(self.msc_scales)) != len(self.msc_scales):
            raise SchemaError(
                "msc_scales", f"expected distinct scales, got {self.msc_scales}"
            )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Dataset location and the training augmentation of SPEC §3, in its order.

    Args:
        dataset: str. A name in `tfdeeplab.catalog.datasets.DATASETS` (`voc`,
            `cityscapes`): its classes, names, palette and converter; or
            `from_shards` (or the name a folder was converted under): the
            dataset the manifest in `root` records (`python -m
            tfrecords_tools.folder`).
        root: str. Directory with the converted TFRecord shards.
        train_split: str or None. Split trained on; None for the dataset's
            (`train_aug` for VOC + SBD).
        eval_split: str or None. Split evaluated on; None for the dataset's.
        num_train_images: int or None. Images in the training split; sets the
            iterations per epoch (SPEC §3). None for the dataset's split size.
        ignore_label: int or None. Label value excluded from loss and metrics;
            None for the dataset's.
        crop_size: (height, width). Training crop, also the evaluation window.
        scale_range: (low, high). Range of the independent x/y resize factors.
        aspect_ratio_tolerance: float. A draw is rejected when |sx/sy - 1| >= this.
        max_resize_attempts: int. After this many rejections the image is not resized.
        image_interpolation: str. `bilinear` or `nearest` for the image; labels are
            always resized nearest.
        pad_value: int. Value padded into image and label up to the crop size.
        flip_probability: float. Probability of a horizontal flip.
        channel_order: str. `bgr` (the Caffe/MXNet models) or `rgb`.
        mean: (c0, c1, c2). Subtracted per channel, in `channel_order`.
        shuffle_buffer: int. Records permuted together: each epoch reads the shards in
            a shuffled order and permutes every block of this many records.
        deterministic: bool. Same seed, same batches (fixes the order of parallel
            reads and maps, at some speed); False lets tf.data reorder for speed.
    """

    dataset: str = _field("voc")
    root: str = _field("data/voc")
    train_split: str | None = _field(None)
    eval_split: str | None = _field(None)
    num_train_images: int | None = _field(None, minimum=1)
    ignore_label: int | None = _field(None, minimum=0)
    crop_size: tuple[int, ...] = _field((321, 321), length=2, minimum=1)
    scale_range: tuple[float, ...] = _field((0.7, 1.5), length=2, minimum=0.0)
    aspect_ratio_tolerance: float = _field(0.15, minimum=0.0)
    max_resize_attempts: int = _field(50, minimum=0)
    image_interpolation: str = _field("bilinear", choices=choices.IMAGE_INTERPOLATIONS)
    pad_value: int = _field(255, minimum=0)
    flip_probability: float = _field(0.5, minimum=0.0)
    channel_order: str = _field("bgr", choices=choices.CHANNEL_ORDERS)
    mean: tuple[float, ...] = _field((104.0, 116.0, 122.0), length=3)
    shuffle_buffer: int = _field(1000, minimum=1)
    deterministic: bool = _field(False)

    def check(self) -> None:
        low, high = self.scale_range
        if not 0 < low <= high:
            raise SchemaError(
                "scale_range", f"expected 0 < low <= high, got {list(self.scale_range)}"
            )
        if self.flip_probability > 1.0:
            raise SchemaError(
                "flip_probability",
                f"expected a probability in [0, 1], got {self.flip_probability}",
            )


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The learning-rate schedule, a function of the global step only.

    Args:
        type: str. `piecewise` (steps in scaled epochs) or `poly`.
        family: str. A named piecewise family (`tf_style`, `mxnet_style`) used
            instead of `steps`; empty to use `steps`.
        steps: ((epoch, lr), ...). Piecewise: lr_k applies while the scaled epoch
            is below e_k; epochs strictly increasing.
        base_learning_rate: float. Poly: the rate at step 0.
        power: float. Poly: lr = base * (1 - step / total_steps) ** power.
    """

    type: str = _field("piecewise", choices=choices.SCHEDULE_TYPES)
    family: str = _field("", choices=("",) + tuple(SCHEDULE_FAMILIES))
    steps: tuple[tuple[float, ...], ...] = _field(
        ((5.0, 1e-3), (8.0, 1e-4)), item_length=2
    )
    base_learning_rate: float = _field(2.5e-4, minimum=0.0)
    power: float = _field(0.9, minimum=0.0)

    @property
    def piecewise_steps(self) -> tuple[tuple[float, ...], ...]:
        """The (epoch, lr) pairs in force: the family's if one is named."""
        return SCHEDULE_FAMILIES[self.family] if self.family else self.steps

    def check(self) -> None:
        if self.type != "piecewise":
            return
        steps = self.piecewise_steps
        if not steps:
            raise SchemaError("steps", "expected at least one (epoch, lr) pair")
        epochs = [epoch for epoch, _ in steps]
        if epochs[0] <= 0 or any(
            b <= a for a, b in zip(epochs, epochs[1:], strict=False)
        ):
            raise SchemaError(
                "steps", f"expected strictly increasing positive epochs, got {epochs}"
            )
        if any(lr <= 0 for _, lr in steps):
            raise SchemaError("steps", "expected positive learning rates")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of SPEC §3.

    Args:
        batch_size: int. Images per replica (the seed's "batch/GPU").
        replicas: int. Replicas the recipe was designed for (GPUs x machines). The
            run uses the replicas it has; the schedule follows the real global batch.
        epoch_scale: int. EPOCH_SCALE: one logged epoch is this many passes.
        end_epoch: float. Training stops at this scaled epoch; 0 for the piecewise
            schedule's last epoch (the seed's configs end there).
        max_steps: int. If positive, stop after this many steps instead.
        schedule: ScheduleConfig. The learning-rate schedule.
        momentum: float. SGD momentum.
        weight_decay: float. L2 decay of conv kernels and BN gamma (not biases).
        gradient_reduction: str. `sum` (the seed's kvstore) or `mean` over replicas.
        mixed_precision: str. `float32`, `mixed_float16` or `mixed_bfloat16`.
        jit_compile: bool. Compile the train step with XLA.
        seed: int. Random seed of initialisation and input order.
        init_weights: str. Local weights file for the backbone; empty for none.
        distribution: str. `auto` (several workers when TF_CONFIG names a cluster,
            else all visible GPUs, else the one device), `one_device`, `mirrored`
            (every local GPU, or every logical CPU device without GPUs) or
            `multi_worker` (MultiWorkerMirroredStrategy from TF_CONFIG).
        checkpoint_every: int. Steps between checkpoints; one is also written at
            the end.
        keep_checkpoints: int. Checkpoints kept (the newest).
        log_every: int. Steps between TensorBoard scalars.
        validate_every: int. Steps between whole-image validations (mIoU and image
            panels in TensorBoard); 0 validates only at the end.
        validation_images: int. Images of the eval split each validation uses; 0
            for all.
        image_panels: int. Validation images shown as input / truth / prediction.
        loss: str. `cross_entropy` (the seed's), `ohem` (online hard example
            mining: the pixels whose true-class probability is below
            `ohem_threshold`, at least `ohem_min_kept` of a replica's batch; PSPNet,
            mmsegmentation) or `cross_entropy_dice` (cross-entropy plus the dice
            loss of the softmax).
        ohem_threshold: float. OHEM keeps pixels whose true-class probability is
            below this.
        ohem_min_kept: int. OHEM keeps at least this many pixels a batch (the
            hardest).
        class_weights: str or tuple of float. `none`, `median_frequency` (SegNet's
            median frequency balancing, from the training split's pixel counts in
            the manifest), `inverse_sqrt` (1 / sqrt of each class's pixel share,
            normalised to mean 1), or one weight per class. The loss stays a mean
            over the valid pixels.
    """

    batch_size: int = _field(10, minimum=1)
    replicas: int = _field(1, minimum=1)
    epoch_scale: int = _field(4, minimum=1)
    end_epoch: float = _field(0.0, minimum=0.0)
    max_steps: int = _field(0, minimum=0)
    schedule: ScheduleConfig = ScheduleConfig()
    momentum: float = _field(0.9, minimum=0.0)
    weight_decay: float = _field(5e-4, minimum=0.0)
    gradient_reduction: str = _field("sum", choices=choices.GRADIENT_REDUCTIONS)
    mixed_precision: str = _field("float32", choices=choices.MIXED_PRECISIONS)
    jit_compile: bool = _field(False)
    seed: int = _field(0, minimum=0)
    init_weights: str = _field("")
    distribution: str = _field("auto", choices=choices.DISTRIBUTIONS)
    checkpoint_every: int = _field(1000, minimum=1)
    keep_checkpoints: int = _field(3, minimum=1)
    log_every: int = _field(20, minimum=1)
    validate_every: int = _field(0, minimum=0)
    validation_images: int = _field(0, minimum=0)
    image_panels: int = _field(4, minimum=0)
    loss: str = _field("cross_entropy", choices=choices.LOSSES)
    ohem_threshold: float = _field(0.7, minimum=0.0)
    ohem_min_kept: int = _field(100_000, minimum=1)
    class_weights: str | tuple[float, ...] = _field("none")

    @property
    def last_epoch(self) -> float:
        """The scaled epoch training stops at (unless `max_steps` is set).

        Example:
            >>> TrainConfig(schedule=ScheduleConfig(family="tf_style")).last_epoch
            7.0
        """
        if self.end_epoch or self.schedule.type != "piecewise":
            return self.end_epoch
        return self.schedule.piecewise_steps[-1][0]

    def check(self) -> None:
        weights = self.class_weights
        if isinstance(weights, str) and weights not in choices.CLASS_WEIGHTINGS:
            raise SchemaError(
                "class_weights",
                f"expected one of {', '.join(choices.CLASS_WEIGHTINGS)} or a list of "
                f"weights, got {weights!r}",
            )
        if not isinstance(weights, str) and (
            not weights or min(weights) < 0 or not max(weights) > 0
        ):
            raise SchemaError(
                "class_weights",
                f"expected one weight >= 0 per class, not all 0, got {list(weights)}",
            )
        if self.max_steps == 0 and self.last_epoch <= 0:
            raise SchemaError(
                "end_epoch",
                "expected a positive end epoch when max_steps is 0 and the schedule "
                "is not piecewise",
            )
        if self.schedule.type == "piecewise" and self.max_steps == 0:
            last_epoch = self.schedule.piecewise_steps[-1][0]
            if self.end_epoch > last_epoch:
                raise SchemaError(
                    "end_epoch",
                    f"expected at most the schedule's last epoch {last_epoch}, "
                    f"got {self.end_epoch}",
                )


@dataclasses.dataclass(frozen=True)
class CrfConfig:
    """Dense CRF post-processing (DeepLab v2 paper settings).

    Args:
        enabled: bool. Apply the CRF after the network.
        iterations: int. Mean-field iterations.
        gaussian_weight: float. Weight of the smoothness (position-only) kernel.
        gaussian_xy: float. Its spatial standard deviation.
        bilateral_weight: float. Weight of the appearance kernel.
        bilateral_xy: float. Its spatial standard deviation.
        bilateral_rgb: float. Its colour standard deviation.
        workers: int. Processes that run the CRF while the network predicts the
            next images; 0 for one per CPU core.
    """

    enabled: bool = _field(False)
    iterations: int = _field(10, minimum=1)
    gaussian_weight: float = _field(3.0, minimum=0.0)
    gaussian_xy: float = _field(1.0, minimum=0.0)
    bilateral_weight: float = _field(4.0, minimum=0.0)
    bilateral_xy: float = _field(67.0, minimum=0.0)
    bilateral_rgb: float = _field(3.0, minimum=0.0)
    workers: int = _field(0, minimum=0)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol of SPEC §4.

    Args:
        scales: tuple of float. Image scales whose probabilities are averaged.
        tile_stride_fraction: float. Sliding-window stride as a fraction of the
            window (ceil(2/3 * crop) in the seed).
        flip: bool. Also average the horizontally flipped prediction.
        tile_batch: int. Tiles (of all scales and flips of an image) per forward
            pass.
        crf: CrfConfig. Dense CRF post-processing.
    """

    scales: tuple[float, ...] = _field((0.9, 1.0, 1.1), minimum=0.0)
    tile_stride_fraction: float = _field(2.0 / 3.0, minimum=0.0)
    flip: bool = _field(False)
    tile_batch: int = _field(4, minimum=1)
    crf: CrfConfig = CrfConfig()

    def check(self) -> None:
        if not self.scales:
            raise SchemaError("scales", "expected at least one scale")
        if any(scale <= 0 for scale in self.scales):
            raise SchemaError(
                "scales", f"expected positive scales, got {list(self.scales)}"
            )
        if not 0 < self.tile_stride_fraction <= 1 or math.isnan(
            self.tile_stride_fraction
        ):
            raise SchemaError(
                "tile_stride_fraction",
                f"expected a fraction in (0, 1], got {self.tile_stride_fraction}",
            )


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything one experiment needs.

    Args:
        name: str. The experiment's name (defaults to the recipe file's stem).
        description: str. One line on what the recipe reproduces.
        model: ModelConfig.
        data: DataConfig.
        train: TrainConfig.
        eval: EvalConfig.
    """

    name: str = _field("")
    description: str = _field("")
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def check(self) -> None:
        # The stem's 3x3 max-pool needs 3 pixels (1 with pool padding 1) at the
        # smallest scale the network sees (align-corners MSC sizes).
        need = 3 if self.model.stem_pool_padding == 0 else 1
        smallest = min(self.model.msc_scales or (1.0,))
        minimum = 1
        while math.floor((minimum - 1) * smallest) + 1 < need:
            minimum += 1
        if min(self.data.crop_size) < minimum:
            raise SchemaError(
                "data.crop_size",
                f"expected at least {minimum} pixels a side for this model (its "
                f"stem pools {need}x{need} pixels at its smallest scale "
                f"{smallest:g}), got {list(self.data.crop_size)}",
            )


def _stated(section: str, key: str, stated, expected, descriptor) -> object:
    """`expected` when the recipe left `key` out; else `stated`, which must agree."""
    if stated is None or stated == expected:
        return expected
    raise SchemaError(
        f"{section}.{key}",
        f"expected {expected}, the {descriptor.name} dataset's, got {stated} (leave "
        "it out to take the dataset's)",
    )


def with_dataset_facts(recipe: Recipe, descriptor: DatasetDescriptor) -> Recipe:
    """`recipe` with the facts it left out taken from its dataset's descriptor.

    Args:
        recipe: Recipe. As read from the file; `None` where a fact is left out.
        descriptor: DatasetDescriptor. Of `recipe.data.dataset`.

    Returns:
        Recipe with `model.num_classes`, `data.ignore_label`, `data.train_split`,
        `data.eval_split` and `data.num_train_images` set.

    Raises:
        SchemaError: a stated class count or ignore label other than the
            dataset's, or a split the dataset does not have.

    Example:
        >>> with_dataset_facts(recipe, DATASETS["cityscapes"]).model.num_classes
        19
    """
    data, model = recipe.data, recipe.model
    num_classes = _stated(
        "model", "num_classes", model.num_classes, descriptor.num_classes, descriptor
    )
    ignore_label = _stated(
        "data", "ignore_label", data.ignore_label, descriptor.ignore_label, descriptor
    )
    splits = {}
    for key, default in (
        ("train_split", descriptor.train_split),
        ("eval_split", descriptor.eval_split),
    ):
        split = getattr(data, key) or default
        if split not in descriptor.splits:
            known = ", ".join(descriptor.splits)
            raise SchemaError(
                f"data.{key}",
                f"expected a split of the {descriptor.name} dataset ({known}), got "
                f"{split!r}",
            )
        splits[key] = split
    num_train_images = data.num_train_images or descriptor.splits[splits["train_split"]]
    weights = recipe.train.class_weights
    if not isinstance(weights, str) and len(weights) != num_classes:
        raise SchemaError(
            "train.class_weights",
            f"expected one weight per class ({num_classes}), got {len(weights)}",
        )
    return dataclasses.replace(
        recipe,
        model=dataclasses.replace(model, num_classes=num_classes),
        data=dataclasses.replace(
            data,
            dataset=descriptor.name,  # `from_shards`: the name the shards hold
            ignore_label=ignore_label,
            num_train_images=num_train_images,
            **splits,
        ),
    )
