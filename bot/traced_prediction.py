"""DIET's predictions called on its traced TensorFlow graph directly: installed by
bot/rasa_start.py.

Rasa 3.6 wraps a model's prediction step in ``tf.function`` with an input signature whose
batch and sequence sizes are open, so one graph is traced and serves every message. Yet
each call still goes through ``tf.function``'s dispatch, which canonicalises the inputs
and looks the graph up again among its traces: about a third of DIET's time per message,
more than a tenth of a parse.

Here, once the prediction step has been traced (when the model is loaded), the model keeps
the traced graph itself — the concrete function that dispatch would find every time — and
calls it. The inputs it accepts are the ones the signature accepted, and the predictions
are the same; tests/e2e/test_engine_graph.py compares them on the trained model.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Each Rasa model calls its traced prediction graph directly from its second
    prediction on (the first, at loading, traces it)."""
    from rasa.utils.tensorflow.models import RasaModel
    from tensorflow.python.eager.polymorphic_function.polymorphic_function import Function

    predict = RasaModel._rasa_predict

    def rasa_predict(self: RasaModel, batch_in: Any) -> Any:
        step = self._tf_predict_step
        # Only a function with a fixed signature has one graph for every input.
        if isinstance(step, Function) and step.input_signature is not None:
            self._tf_predict_step = step.get_concrete_function()
        return predict(self, batch_in)

    RasaModel._rasa_predict = rasa_predict
