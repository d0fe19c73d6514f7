"""The architectures. Each takes the normalised input tensor, returns softmax probabilities."""

from __future__ import annotations

from ferflow.models import register

N_CLASSES = 7


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
    return layers.Dense(N_CLASSES, activation="softmax", name="probs")(x)


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
    return layers.Dense(N_CLASSES, activation="softmax")(x)


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
    return layers.Dense(N_CLASSES, activation="softmax", name="probs")(x)
