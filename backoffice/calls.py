"""Back office: phone call transcripts, turn by turn, with both sides' audio; and the
photos citizens sent with their complaints (media staff review, like recordings)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.orm import Session

from backoffice.auth import Dispatcher, Reviewer
from backoffice.deps import DbSession, RowId, State
from backoffice.responses import body_too_large, errors, file_of
from liangwang.labels import BACK_OFFICE_ERRORS
from liangwang.personal_data import Shown
from liangwang.photos import PhotoStore
from liangwang.staff import accounts
from liangwang.transcripts import call_by_id, recent_calls

router = APIRouter()
CallPk = RowId  # a call's database id


@router.get("/calls", response_class=HTMLResponse)
def call_list(request: Request, state: State, session: DbSession, member: Reviewer) -> HTMLResponse:
    return state.page(request, "staff_calls.html", {"calls": recent_calls(session)})


def _call_page(
    call_pk: int, request: Request, state: State, session: Session, revealed: bool
) -> HTMLResponse:
    call = call_by_id(session, call_pk)
    if call is None:
        raise HTTPException(404, BACK_OFFICE_ERRORS["no_such_call"])
    context = {"call": call, "turns": list(call.turns), "shown": Shown(revealed)}
    return state.page(request, "staff_call.html", context)


@router.get("/calls/{call_pk}", response_class=HTMLResponse, responses=errors(404))
def call_detail(
    call_pk: CallPk, request: Request, state: State, session: DbSession, member: Reviewer
) -> HTMLResponse:
    return _call_page(call_pk, request, state, session, revealed=False)


@router.post(
    "/calls/{call_pk}/reveal",
    response_class=HTMLResponse,
    responses={**errors(404), **body_too_large()},
)
def call_reveal(
    call_pk: CallPk, request: Request, state: State, session: DbSession, member: Reviewer
) -> HTMLResponse:
    """The call with the caller's number and words unmasked, for this page only."""
    accounts.record(session, member.username, "reveal", f"call {call_pk}")
    return _call_page(call_pk, request, state, session, revealed=True)


@router.get(
    "/recordings/{folder}/{name}",
    response_class=FileResponse,
    responses={**file_of("audio/wav"), **errors(404)},
)
def recording(folder: str, name: str, state: State, member: Reviewer) -> FileResponse:
    root = state.settings.recordings_dir.resolve()
    path = (root / folder / name).resolve()
    # Only files inside the recordings folder, whatever the URL says.
    if not path.is_relative_to(root) or path.suffix != ".wav" or not path.is_file():
        raise HTTPException(404, BACK_OFFICE_ERRORS["no_such_recording"])
    return FileResponse(path, media_type="audio/wav")


@router.get(
    "/photos/{name}",
    response_class=FileResponse,
    responses={**file_of("image/jpeg"), **errors(404)},
)
def photo(name: str, state: State, member: Dispatcher) -> FileResponse:
    path = PhotoStore.from_settings(state.settings).path(name)
    if path is None:  # only names we gave, inside the photos folder
        raise HTTPException(404, BACK_OFFICE_ERRORS["no_such_photo"])
    return FileResponse(path, media_type="image/jpeg")
