"""What administrators look after besides accounts: the service catalog (see it, import a
new file, validated whole before anything is written) and the settings the stack runs
with (read only: they come from the environment; secrets and passwords never shown)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import SecretStr

from backoffice.auth import Admin
from backoffice.deps import DbSession, State
from backoffice.responses import body_too_large, errors
from liangwang.catalog.loader import CatalogError, Problem, format_of, load
from liangwang.catalog.store import PROBLEMS, import_catalog, load_services, office_kinds
from liangwang.labels import SETTING_SHOWN
from liangwang.personal_data import without_password
from liangwang.settings import Settings
from liangwang.staff import accounts

router = APIRouter()
CATALOG_PATH = "/staff/catalog"


def _catalog_page(
    request: Request, state: State, session: DbSession, **outcome: Any
) -> HTMLResponse:
    services = sorted(load_services(session), key=lambda s: (s.category, s.name))
    return state.page(request, "staff_catalog.html", {"services": services, **outcome})


@router.get("/catalog", response_class=HTMLResponse)
def catalog(request: Request, state: State, session: DbSession, member: Admin) -> HTMLResponse:
    return _catalog_page(request, state, session)


# 400: the page listing a file's problems, or the framework's JSON for a broken upload.
_REFUSED = errors(400)
_REFUSED[400]["content"]["text/html"] = {"schema": {"type": "string"}}


@router.post("/catalog", response_class=HTMLResponse, responses={**_REFUSED, **body_too_large()})
async def catalog_import(
    request: Request,
    state: State,
    session: DbSession,
    member: Admin,
    catalog_file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    """Import a catalog file (YAML or JSON). Every problem is listed with its item, field
    and line, and then nothing is written; the page answers 400."""
    try:
        fmt = format_of(PurePath(catalog_file.filename or "catalog"))
        text = (await catalog_file.read()).decode("utf-8")
        report = import_catalog(session, load(text, fmt, office_kinds(session)))
    except UnicodeDecodeError as exc:
        problems = [Problem(PROBLEMS["unreadable"].format(error=exc))]
    except CatalogError as exc:
        problems = exc.problems
    else:
        accounts.record(session, member.username, "catalog_imported", catalog_file.filename or "")
        return _catalog_page(request, state, session, report=report)
    page = _catalog_page(request, state, session, problems=[p.render() for p in problems])
    page.status_code = 400
    return page


def shown_settings(settings: Settings) -> list[tuple[str, str]]:
    """Each setting as ``LIANGWANG_…`` and its value, secrets and passwords hidden."""
    rows = []
    for name in sorted(type(settings).model_fields):
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = SETTING_SHOWN["set" if value.get_secret_value() else "unset"]
        elif isinstance(value, str) and "://" in value:
            shown = without_password(value)
        else:
            shown = "" if value is None else str(value)
        rows.append((f"LIANGWANG_{name.upper()}", shown))
    return rows


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, state: State, member: Admin) -> HTMLResponse:
    return state.page(request, "staff_settings.html", {"rows": shown_settings(state.settings)})
