"""ferflow's own Keras classes that a saved model may hold: the optimizers with a
learning-rate factor on some variables (``batchnorm.bias_lr``) and the constraint that
holds BatchNorm scales at 1 (``batchnorm.scale: false``) (:mod:`ferflow.training.recipe` uses them).
Registered with Keras on first use, so that nothing imports Keras before it is needed;
:func:`register_custom_objects` registers them all (the loader calls it)."""

from __future__ import annotations


def _scaled(base):
    """``base`` (a Keras optimizer class) with a learning-rate factor on some variables."""
    import keras

    class Scaled(base):
        def __init__(self, lr_factor: float = 1.0, scaled_paths=(), **kwargs):
            super().__init__(**kwargs)
            self.lr_factor, self.scaled_paths = float(lr_factor), list(scaled_paths)
            self._scaled = set(self.scaled_paths)

        def build(self, variables):
            # the backend's update step may get the variables' backend values (TensorFlow)
            self._scaled_ids = {id(x) for v in variables if v.path in self._scaled
                                for x in (v, getattr(v, "value", v))}
            super().build(variables)

        def update_step(self, gradient, variable, learning_rate):
            if id(variable) in self._scaled_ids:
                learning_rate = learning_rate * self.lr_factor
            return super().update_step(gradient, variable, learning_rate)

        def get_config(self):
            return {**super().get_config(), "lr_factor": self.lr_factor,
                    "scaled_paths": self.scaled_paths}

    Scaled.__name__ = Scaled.__qualname__ = f"Scaled{base.__name__}"
    return keras.saving.register_keras_serializable("ferflow")(Scaled)


def _ones():
    """A weight constraint that holds every entry at 1 (frozen BatchNorm scales)."""
    import keras

    class Ones(keras.constraints.Constraint):
        def __call__(self, w):
            return keras.ops.ones_like(w)

    return keras.saving.register_keras_serializable("ferflow")(Ones)


def _temperature_scaling():
    """A layer over a model's probabilities: softmax(log(p) / T), the temperature-scaled
    probabilities (:mod:`ferflow.evaluation.calibration`); the exports of a run with
    ``evaluate.calibration.use_scaled`` end with it."""
    import keras

    class TemperatureScaling(keras.layers.Layer):
        def __init__(self, temperature: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            self.temperature = float(temperature)

        def call(self, probs):
            ops = keras.ops
            logits = ops.log(ops.clip(probs, 1e-30, 1.0))
            return ops.softmax(logits / self.temperature, axis=-1)

        def get_config(self):
            return {**super().get_config(), "temperature": self.temperature}

    return keras.saving.register_keras_serializable("ferflow")(TemperatureScaling)


def with_temperature(model, temperature: float):
    """``model`` followed by temperature scaling (a new functional model, same input)."""
    import keras

    out = CUSTOM["TemperatureScaling"](temperature, name="temperature_scaling")(model.output)
    return keras.Model(model.input, out, name=f"{model.name}_scaled")


class _Registry(dict):
    """ferflow's Keras classes (scaled optimizers, the constraint), made and registered
    with Keras on first use, so that nothing imports Keras before it is needed."""

    def __missing__(self, name):
        import keras

        made = {"Ones": _ones, "TemperatureScaling": _temperature_scaling}.get(name)
        self[name] = made() if made else _scaled(getattr(keras.optimizers, name))
        return self[name]


CUSTOM = _Registry()


def register_custom_objects() -> None:
    """Register ferflow's Keras classes, so that a saved model holding one of them loads
    (:func:`ferflow.models.load_model` calls this)."""
    for name in ("SGD", "Adam", "AdamW", "Ones", "TemperatureScaling"):
        CUSTOM[name]
    from ferflow.models.foreign import LAYERS

    LAYERS.register()  # the wrapper layers of a model trained elsewhere
