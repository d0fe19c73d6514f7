"""The architectures. Each takes the normalised input tensor, returns softmax probabilities.

The softmax head is float32 (dtype="float32"), so under mixed precision the
probabilities and the loss stay in float32."""

from __future__ import annotations

from ferflow import CLASS_NAMES
from ferflow.models.registry import register


@register("small_cnn")
def small_cnn(x):
    """A small, fast CNN for the synthetic default: three conv blocks, global pooling."""
    from keras import layers

    for i, filters in enumerate((32, 64, 128)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"relu{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("seed003")
def seed003(x):
    """Seed 003's CNN, layer for layer as its table lists (4,087,323 parameters).

    The report does not name the activations; ReLU after every conv and dense layer
    and Dropout 0.3 (conv part) / 0.5 (dense part) are our choices.
    """
    from keras import layers

    relu = "relu"
    x = layers.Conv2D(64, 5, padding="valid", activation=relu)(x)  # 44x44x64
    x = layers.ZeroPadding2D(2)(x)  # 48x48x64
    x = layers.MaxPooling2D(5, strides=2)(x)  # 22x22x64
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(64, 3, activation=relu)(x)  # 22x22x64
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(64, 3, activation=relu)(x)
    x = layers.AveragePooling2D(3, strides=2)(x)  # 10x10x64
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(96, 3, activation=relu)(x)  # 10x10x96
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Conv2D(128, 3, activation=relu)(x)  # 10x10x128
    x = layers.ZeroPadding2D(1)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 3, activation=relu)(x)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.AveragePooling2D(3, strides=2)(x)  # 5x5x128
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)  # 3200
    x = layers.Dense(900, activation=relu)(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(900, activation=relu)(x)
    x = layers.Dropout(0.5)(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32")(x)


@register("dnn_seed003")
def dnn_seed003(x):
    """Seed 003's fully connected baseline: Dense 1024-1024-768-768-512-512-7 (5,447,687 params).

    ReLU and Dropout 0.3 after every hidden layer (the report gives neither).
    """
    from keras import layers

    x = layers.Flatten()(x)
    for i, units in enumerate((1024, 1024, 768, 768, 512, 512)):
        x = layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        x = layers.Dropout(0.3, name=f"dropout{i + 1}")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("seed000")
def seed000(x):
    """Seed 000's PReLU / separable-conv CNN.

    The report gives the layer order but not the filter counts or the head. Our
    choices: 64, 128 and 256 filters, 'same' padding, PReLU with one slope per
    channel (shared over height and width), and a head Flatten -> Dense 256 (PReLU,
    BatchNorm, Dropout 0.5) -> Dense 7.
    """
    from keras import layers

    def prelu(name):
        return layers.PReLU(shared_axes=[1, 2], name=name)

    x = layers.Conv2D(64, 6, padding="same", name="conv1")(x)
    x = prelu("prelu1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.MaxPooling2D(2, name="maxpool1")(x)  # 24x24
    x = layers.Dropout(0.28, name="dropout1")(x)
    x = prelu("prelu1b")(x)
    x = layers.SeparableConv2D(128, 5, padding="same", name="sepconv2")(x)
    x = prelu("prelu2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.AveragePooling2D(2, name="avgpool2")(x)  # 12x12
    x = layers.Dropout(0.35, name="dropout2")(x)
    x = prelu("prelu2b")(x)
    x = layers.MaxPooling2D(2, name="maxpool2b")(x)  # 6x6
    x = layers.Conv2D(256, 5, padding="same", name="conv3")(x)
    x = layers.ELU(alpha=0.01, name="elu3")(x)
    x = layers.BatchNormalization(name="bn3")(x)
    x = layers.MaxPooling2D(2, name="maxpool3")(x)  # 3x3
    x = layers.Dropout(0.52, name="dropout3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, name="dense1")(x)
    x = layers.PReLU(name="prelu_dense")(x)
    x = layers.BatchNormalization(name="bn_dense")(x)
    x = layers.Dropout(0.5, name="dropout_dense")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("seed001")
def seed001(x):
    """Seed 001's nine-conv VGG-style CNN (787,143 parameters in the report).

    Three blocks of three Conv 3x3 (32, 64, 128 filters, ReLU, BatchNorm after each),
    a MaxPool 2x2 and Dropout 0.25 after each block; head Flatten -> Dense 64
    (BatchNorm, ReLU, Dropout 0.5) -> Dense 128 (ReLU, Dropout 0.5) -> Dense 7. The
    report gives only the block structure and the total; these widths give 787,335
    parameters (+0.02%).
    """
    from keras import layers

    k = 0
    for b, filters in enumerate((32, 64, 128)):
        for _ in range(3):
            k += 1
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{k}")(x)
            x = layers.BatchNormalization(name=f"bn{k}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{b + 1}")(x)
        x = layers.Dropout(0.25, name=f"dropout{b + 1}")(x)
    x = layers.Flatten(name="flatten")(x)  # 6x6x128 = 4608
    x = layers.Dense(64, name="dense1")(x)
    x = layers.BatchNormalization(name="bn_dense1")(x)
    x = layers.Activation("relu", name="relu_dense1")(x)
    x = layers.Dropout(0.5, name="dropout_dense1")(x)
    x = layers.Dense(128, activation="relu", name="dense2")(x)
    x = layers.Dropout(0.5, name="dropout_dense2")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("dnn_seed001")
def dnn_seed001(x):
    """Seed 001's fully connected baseline with about as many parameters as its CNN.

    The report gives only the total (799,525). Dense 320-160-64 (ReLU, Dropout 0.3)
    -> Dense 7 gives 799,719 (+0.02%).
    """
    from keras import layers

    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate((320, 160, 64)):
        x = layers.Dense(units, activation="relu", name=f"dense{i + 1}")(x)
        x = layers.Dropout(0.3, name=f"dropout{i + 1}")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("seed004")
def seed004(x):
    """Seed 004's seven-conv BatchNorm/LeakyReLU CNN.

    Conv 3x3 (stride 1, padding 1) + BatchNorm + LeakyReLU with 16; 32 + MaxPool +
    Dropout 0.1; 64 + Dropout 0.2; 128 + MaxPool + Dropout 0.3; 256 + MaxPool +
    Dropout 0.3; 512 + MaxPool + Dropout 0.5; 512 + MaxPool + Dropout 0.5 filters,
    then Dense 512->256 + Dropout 0.7, 256->128 + Dropout 0.7, 128->7, LeakyReLU in
    the head. LeakyReLU slope 0.01 (PyTorch's default; the report does not say).
    """
    from keras import layers

    plan = [(16, False, 0.0), (32, True, 0.1), (64, False, 0.2), (128, True, 0.3),
            (256, True, 0.3), (512, True, 0.5), (512, True, 0.5)]
    for i, (filters, pool, drop) in enumerate(plan, start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.01, name=f"lrelu{i}")(x)
        if pool:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        if drop:
            x = layers.Dropout(drop, name=f"dropout{i}")(x)
    x = layers.Flatten(name="flatten")(x)  # 1x1x512
    for i, units in enumerate((256, 128), start=1):
        x = layers.Dense(units, name=f"dense{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.01, name=f"lrelu_dense{i}")(x)
        x = layers.Dropout(0.7, name=f"dropout_dense{i}")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("ferflow_vgg")
def ferflow_vgg(x):
    """ferflow's own model, built to beat the seed models on real faces.

    VGG-style like usef-kh/fer's 73.3% network: four blocks of two Conv 3x3 + BatchNorm
    + ReLU (64, 128, 256, 512 filters), each followed by MaxPool 2x2 and spatial
    dropout, then global average pooling (far fewer parameters than a flatten head,
    and less overfitting) and Dense 512 + Dropout 0.5 -> Dense 7. Meant to be trained
    with SGD + Nesterov, reduce-on-plateau, label smoothing and online augmentation
    (see config/ferplus7.yaml); about 4.9 M parameters, well under an hour per run on
    one GPU on FER2013.
    """
    from keras import layers

    k = 0
    for b, filters in enumerate((64, 128, 256, 512), start=1):
        for _ in range(2):
            k += 1
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{k}")(x)
            x = layers.BatchNormalization(name=f"bn{k}")(x)
            x = layers.Activation("relu", name=f"relu{k}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
        x = layers.SpatialDropout2D(0.1 * b, name=f"drop{b}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(512, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.5, name="dropout_dense1")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)


@register("ferflow_cpu")
def ferflow_cpu(x):
    """ferflow's real-face model for a CPU budget (~0.58 M parameters, ~85 M multiply-adds).

    A plain BatchNorm VGG, sized by measurement on a 2-core CPU: dense 3x3 convolutions
    run at 130-230 GFLOP/s there while depthwise-separable ones reach only a fraction of
    that (benchmarks/RESULTS.md), so for the same wall time a narrow dense network does
    more useful work. Conv 3x3 + BN + ReLU with 16, 32 filters at 48x48; 64, 64 at 24x24;
    128, 128 at 12x12 (max-pool 2x2 between stages); one 256-filter conv at 6x6; global
    average pooling, dropout 0.3, Dense 7. Meant for SGD + Nesterov with a cosine schedule,
    online augmentation and FER+ vote-distribution targets (config/ferplus7-cpu.yaml).
    """
    from keras import layers

    stages = [(16, 32), (64, 64), (128, 128), (256,)]
    k = 0
    for b, widths in enumerate(stages, start=1):
        if b > 1:
            x = layers.MaxPooling2D(2, name=f"pool{b - 1}")(x)
        for filters in widths:
            k += 1
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{k}")(x)
            x = layers.BatchNormalization(name=f"bn{k}")(x)
            x = layers.Activation("relu", name=f"relu{k}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    return layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32", name="probs")(x)
