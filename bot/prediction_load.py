"""DIET loaded for prediction without tracing a training step: installed by
bot/rasa_start.py.

Rasa 3.6 gives a loaded TensorFlow model its weights by first training it on one example
(``model.fit``) and then overwriting what that step learnt with the saved weights: the
layers only make their variables when first run. ``fit`` traces the whole training step —
the forward pass, the losses, the gradients and the optimizer — into a graph. On 2 cores
that took about 35 of the 45 seconds the engine needed to start, and the graph stayed in
memory though nothing served ever runs it.

Here a model loaded for prediction (not for further training) runs its loss on the same
example once, eagerly: every layer the training step would have built makes its variables,
and nothing is traced. The saved weights are then restored over them as in Rasa, without
the optimizer's state, which only further training reads.

The prediction step is then traced, as Rasa does at loading; DIET's without AutoGraph.
AutoGraph rewrites each layer's Python into graph code before tracing (another 5 seconds),
which only matters for Python control flow on tensors, and DIET's prediction has none
(tracing it would fail if it had). Other models (TED) are traced Rasa's way.

tests/e2e/test_engine_load.py compares the parses with Rasa's own way of loading on the
trained model.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Every Rasa model loaded for prediction builds its weights by one eager pass."""
    from rasa.utils.tensorflow.models import RasaModel

    rasa_load = RasaModel.load.__func__  # type: ignore[attr-defined]

    def load(
        cls: type[RasaModel],
        model_file_name: str,
        model_data_example: Any,
        predict_data_example: Any = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> RasaModel:
        if finetune_mode or predict_data_example is None:
            return rasa_load(  # type: ignore[no-any-return]
                cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                *args, **kwargs,
            )  # fmt: skip
        model = cls(*args, **kwargs)
        _build_weights(model, model_data_example)
        # The saved optimizer's state has nothing to restore into, as meant.
        model.load_weights(model_file_name).expect_partial()
        _trace_prediction(model, predict_data_example)
        return model

    RasaModel.load = classmethod(load)  # type: ignore[method-assign, assignment]


def _build_weights(model: Any, model_data_example: Any) -> None:
    """Every variable a training step would make, made by running its loss once."""
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    example, _ = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]
    model._training = True  # the layers a training step runs, not only prediction's
    model.batch_loss(example)


def prediction_step(model: Any, input_signature: Any) -> Any:
    """DIET's prediction step as a ``tf.function`` traced without AutoGraph (the engine's
    and the engine benchmark's)."""
    import tensorflow as tf

    return tf.function(model.predict_step, input_signature=input_signature, autograph=False)


def _trace_prediction(model: Any, predict_data_example: Any) -> None:
    """The prediction step traced on the example; DIET's without AutoGraph."""
    from rasa.nlu.classifiers.diet_classifier import DIET
    from rasa.utils.train_utils import create_data_generators

    if type(model) is DIET:
        batches, _ = create_data_generators(
            predict_data_example, batch_sizes=1, epochs=1, shuffle=False
        )
        example, _ = batches[0]
        model._tf_predict_step = prediction_step(model, model._dynamic_signature(example))
    model.run_inference(predict_data_example)
