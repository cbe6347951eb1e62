"""Every HTTP API fuzzed from its own OpenAPI schema (schemathesis): for each operation,
requests the schema says are valid and requests it says are not, each checked for no
server error and for an answer the schema documents (status, content type, headers, body).

Bounded: a fixed number of examples per operation, derandomized, so a run is the same
every time and the file takes well under two minutes on two busy cores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.core.result import Err
from schemathesis.python.asgi import shutdown_lifespans

from backoffice.app import create_citizen_app, create_staff_app
from backoffice.auth import COOKIE
from liangwang.complaints import tickets
from liangwang.complaints.models import TicketAction
from liangwang.complaints.tickets import NewTicket
from liangwang.db import make_engine, make_session_factory, unit_of_work
from liangwang.dialogue import DialogueEngine, RecordingEngine
from liangwang.settings import Settings
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser
from tests.staff_desk import PASSWORD, add_member, signed_in

AppFactory = Callable[[Settings, DialogueEngine], FastAPI]

# Each app to fuzz, by name: one per listener.
APPS = [
    pytest.param(create_citizen_app, id="web"),
    pytest.param(create_staff_app, id="staff"),
]

EXAMPLES_PER_OPERATION = 25
API_KEY = "fuzz-key"  # the Open311 key the app is given

load_all_checks()  # the OpenAPI checks register themselves on import
_CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# Not positive_data_acceptance: the schema cannot say which district names exist, nor
# Open311's "lat and long, or an address", so the routes refuse some schema-valid requests
# by design (400, 422); status_code_conformance still holds those answers to the schema.
CHECKS = [getattr(schemathesis.checks, name) for name in _CHECK_NAMES]

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    # Every example is a whole request through the app and its database; and invalid
    # requests are drawn by filtering, which some operations need a lot of.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def fuzz_settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        open311_api_keys=SecretStr(API_KEY),
        # Generous rate limits: the fuzzer sends hundreds of requests from one address,
        # and a 429 would hide whatever the route would have answered.
        rate_limit_per_address=100_000,
        rate_limit_per_conversation=10_000,
        staff_sign_ins_per_minute=100_000,
        # Nothing listens here: /healthz reports Rasa and the action server unreachable
        # at once instead of probing whatever a developer runs on the usual ports.
        rasa_port=9,
        action_port=9,
    )


@pytest.fixture
def known_values(db_url: str) -> dict[str, str]:
    """Values that name something that exists (a ticket, a service, the API key): a third
    run puts them in the requests, so they get past the 404s and 403s to the work behind."""
    engine = make_engine(db_url)
    with unit_of_work(make_session_factory(engine)) as session:
        ticket = tickets.file_ticket(
            session,
            NewTicket(
                category="streetlight",
                description="小区门口的路灯坏了",
                channel="open311",
                address="国和路100号",
                contact_phone="13800138000",
            ),
            actor="fuzz",
        )
        known = {
            "number": ticket.number,
            "service_request_id": ticket.number,
            "token": ticket.token,
            "service_code": ticket.category,
            "api_key": API_KEY,
            # A step staff may take on the new ticket (then, taken, one it may not: 409).
            "action": TicketAction.dispatch.value,
        }
    engine.dispose()
    return known


@pytest.mark.parametrize("build", APPS)
def test_every_operation_answers_as_documented_and_never_fails(
    build: AppFactory,
    fuzz_settings: Settings,
    known_values: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    # The Host header is "testserver", which tests/conftest.py allows.
    app = build(fuzz_settings, RecordingEngine())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    staff = build is create_staff_app
    member = add_member(str(fuzz_settings.database_url), Role.admin) if staff else ""
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                with subtests.test(msg="a part of the schema schemathesis cannot read"):
                    raise result.err()
                continue
            operation = result.ok()
            runs = [Run("valid", GenerationMode.POSITIVE), Run("invalid", GenerationMode.NEGATIVE)]
            known = dict(known_values)
            if staff:
                # Signed in afresh for each operation (the previous one may have been the
                # sign-out); the fuzzed requests carry the session's cookie, and the known
                # values its CSRF token, so they reach the routes behind the sign-in.
                cookies, known["csrf"] = _signed_in(app, member)
                runs = [Run("signed out", GenerationMode.POSITIVE), *runs]
                for run in runs[1:]:
                    run.cookies = cookies
            with_known = Run.with_known(operation, known)
            if with_known:
                with_known.cookies = runs[-1].cookies
                runs.append(with_known)
            for run in runs:
                with subtests.test(msg=f"{operation.label}: {run.label}"):
                    run.fuzz(operation)
    finally:
        shutdown_lifespans()  # the app's lifespan closes its database before tmp_path goes


def _signed_in(app: FastAPI, username: str) -> tuple[dict[str, str], str]:
    """A new session of ``username``: its cookie and its CSRF token."""
    with TestClient(app) as client:
        member = StaffBrowser.sign_in(client, username, PASSWORD)
        return {COOKIE: str(client.cookies[COOKIE])}, member.csrf


@dataclass
class Run:
    label: str
    mode: GenerationMode
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def with_known(cls, operation: APIOperation, known: dict[str, str]) -> Run | None:
        """Valid requests carrying the known values the operation takes, if it takes any."""

        def taken(names: Iterable[str]) -> dict[str, str]:
            return {name: known[name] for name in names if name in known}

        fields = (f for b in operation.body for f in b.resolved_schema.get("properties", {}))
        run = cls(
            "valid, naming what exists",
            GenerationMode.POSITIVE,
            path=taken(p.name for p in operation.path_parameters),
            query=taken(p.name for p in operation.query),
            body=taken(fields),
        )
        return run if run.path or run.query or run.body else None

    def fuzz(self, operation: APIOperation) -> None:
        strategy = operation.as_strategy(
            self.mode, path_parameters=self.path or None, query=self.query or None
        )

        @FUZZ_SETTINGS
        @given(case=strategy)
        def each(case: Case) -> None:
            if self.body and isinstance(case.body, dict):
                case.body = {**case.body, **self.body}
            if self.cookies:
                case.cookies = {**(case.cookies or {}), **self.cookies}
            case.call_and_validate(checks=CHECKS)

        try:
            each()
        except Unsatisfiable:
            if self.mode is not GenerationMode.NEGATIVE:
                raise
            # Every value the operation takes is valid (no parameters, or free strings):
            # there is no invalid request to send.
            pytest.skip("no invalid request exists for this operation")


# --- what the fuzzing found, each pinned down ---------------------------------------------


@pytest.fixture
def client(fuzz_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_citizen_app(fuzz_settings, RecordingEngine())) as c:
        yield c


def test_a_call_id_past_the_database_integer_is_refused_not_a_crash(
    fuzz_settings: Settings,
) -> None:
    # Was a 500: SQLite's driver overflowed on 2**63 (PostgreSQL's INTEGER ends at 2**31).
    app = create_staff_app(fuzz_settings, RecordingEngine())
    with signed_in(app, str(fuzz_settings.database_url), Role.reviewer) as staff:
        for too_large in (2**31, 2**63):
            assert staff.get(f"/staff/calls/{too_large}").status_code == 422
        assert staff.get("/staff/calls/999").status_code == 404


def test_an_unknown_district_is_refused_in_the_documented_validation_shape(
    client: TestClient,
) -> None:
    # Was {"detail": "…"}, where the schema documents 422 as a list of validation errors.
    reply = client.get("/api/catalog/search", params={"q": "敬老卡", "district": "火星"})
    assert reply.status_code == 422
    [problem] = reply.json()["detail"]
    assert problem["loc"] == ["query", "district"] and "火星" in problem["msg"]


def test_the_rate_limited_routes_declare_their_429(fuzz_settings: Settings) -> None:
    # The fuzzing runs with generous limits, so it never sees a 429: checked here instead.
    paths = create_citizen_app(fuzz_settings, RecordingEngine()).openapi()["paths"]
    for method, path in [
        ("post", "/api/chat"),
        ("get", "/api/catalog/search"),
        ("post", "/open311/v2/requests.json"),
    ]:
        assert "429" in paths[path][method]["responses"], f"{method.upper()} {path}"
