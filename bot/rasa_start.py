"""Starts the Rasa engine as its own ``rasa`` command does, after one change at start-up.

Run by the Rasa environment's Python (``python bot/rasa_start.py run …``), never imported by
our application. Rasa 3.6 checks every custom action's result against its response schema
with ``jsonschema.validate``, which checks the schema itself against the JSON Schema
meta-schema before each use: under load that re-check was about a third of the engine's
time. Here the schema is checked once and its validator kept; each result is still
validated against the same schema and a bad one fails with the same error as before.

The change replaces a private method, so it is pinned to the Rasa version in our lock file:
another version refuses to start (tests/unit/test_rasa_start.py checks both behaviours).
"""

from __future__ import annotations

import sys
from typing import Any

PINNED_RASA = "3.6.21"


def install_action_result_validator() -> None:
    import jsonschema
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if rasa.__version__ != PINNED_RASA:
        raise SystemExit(
            f"bot/rasa_start.py is written for Rasa {PINNED_RASA}, found {rasa.__version__}: "
            "check RemoteAction._validate_action_result and update the pin"
        )
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        # What jsonschema.validate raises, without checking the schema again.
        error = jsonschema.exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = validate_action_result


def main() -> None:
    install_action_result_validator()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
