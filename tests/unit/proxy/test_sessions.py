"""One-time codes and workspace sessions, on a clock the test turns."""

from __future__ import annotations

import pytest

from tests.unit.fakes import ManualClock
from workspace_launcher.proxy.sessions import WorkspaceSessions

A, B = "aaaaaaaaaaaa", "bbbbbbbbbbbb"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def sessions(clock):
    return WorkspaceSessions(clock=clock, code_lifetime=30, session_lifetime=3600)


def mint(sessions, workspace_id=A, generation="g1"):
    return sessions.mint_code(owner="alice", workspace_id=workspace_id, generation=generation, next_path="/p/lab")


def test_a_code_works_once_for_its_workspace(sessions):
    code = mint(sessions)
    value, grant = sessions.redeem(code, workspace_id=A)
    assert (grant.owner, grant.workspace_id, grant.generation, grant.next_path) == ("alice", A, "g1", "/p/lab")
    assert sessions.find([value], workspace_id=A) == grant
    assert sessions.redeem(code, workspace_id=A) is None  # replayed
    assert len(value) >= 43 and value != code


def test_a_code_brought_to_another_workspace_is_refused_and_spent(sessions):
    code = mint(sessions)
    assert sessions.redeem(code, workspace_id=B) is None
    assert sessions.redeem(code, workspace_id=A) is None


def test_a_code_expires_in_seconds(sessions, clock):
    code = mint(sessions)
    clock.now += 30.01
    assert sessions.redeem(code, workspace_id=A) is None


def test_unknown_codes_and_cookies_are_nothing(sessions):
    assert sessions.redeem("", workspace_id=A) is None
    assert sessions.redeem("made-up", workspace_id=A) is None
    assert sessions.find([], workspace_id=A) is None
    assert sessions.find(["made-up", ""], workspace_id=A) is None


def test_a_session_is_refused_by_every_other_workspace(sessions):
    value, _ = sessions.redeem(mint(sessions), workspace_id=A)
    assert sessions.find([value], workspace_id=B) is None


def test_a_session_expires(sessions, clock):
    value, _ = sessions.redeem(mint(sessions), workspace_id=A)
    clock.now += 3599
    assert sessions.find([value], workspace_id=A) is not None
    clock.now += 2
    assert sessions.find([value], workspace_id=A) is None


def test_revoking_a_workspace_ends_its_codes_and_sessions_only(sessions):
    a_value, _ = sessions.redeem(mint(sessions), workspace_id=A)
    b_value, _ = sessions.redeem(mint(sessions, B), workspace_id=B)
    pending = mint(sessions)
    assert sessions.revoke(A) == 2
    assert sessions.find([a_value], workspace_id=A) is None
    assert sessions.redeem(pending, workspace_id=A) is None
    assert sessions.find([b_value], workspace_id=B) is not None


def test_the_live_session_is_found_among_several_cookies(sessions):
    value, grant = sessions.redeem(mint(sessions), workspace_id=A)
    assert sessions.find(["tossed-by-a-sibling", value], workspace_id=A) == grant


def test_expired_entries_are_pruned(sessions, clock):
    for _ in range(5):
        sessions.redeem(mint(sessions), workspace_id=A)
    clock.now += 7200
    mint(sessions)
    assert len(sessions) == 0


def test_a_revoked_session_is_remembered_as_ended_for_its_workspace_only(sessions):
    value, grant = sessions.redeem(mint(sessions), workspace_id=A)
    assert sessions.find_ended([value], workspace_id=A) is None  # live, not ended
    sessions.revoke(A)
    assert sessions.find([value], workspace_id=A) is None  # it opens nothing any more
    assert sessions.find_ended(["made-up", value], workspace_id=A) == grant
    assert sessions.find_ended([value], workspace_id=B) is None
    assert sessions.find_ended(["made-up", ""], workspace_id=A) is None


def test_an_ended_session_is_forgotten_when_it_would_have_expired(sessions, clock):
    value, _ = sessions.redeem(mint(sessions), workspace_id=A)
    sessions.revoke(A)
    clock.now += 3601
    assert sessions.find_ended([value], workspace_id=A) is None
    sessions.revoke(B)  # prunes
    assert sessions._ended == {}
