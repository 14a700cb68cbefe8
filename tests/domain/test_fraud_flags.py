"""Anti-fraud flags (BEY-9): each fires on its own fixture, none on the clean site, and the counts per
project say the same; the rules alone on plain records, and through the query layer on the database
and the blob store."""
from __future__ import annotations

import hashlib
from datetime import date, datetime

from sqlalchemy import select

from domain import fraud
from domain import registration as reg
from domain import workforce as wf
from domain.fraud_rules import (
    ExitFact,
    FlagKind,
    PunchFact,
    TeamMonth,
    Thresholds,
    after_exit,
    altered_photo,
    correction_ratio,
    low_match,
    same_face_elsewhere,
)
from domain.models import CompanyKind, ProjectWorker, RegistrationApplication, SiteAccessRevocation, Worker
from tests.helpers.attendance_site import MONTH, add_punch, build_site, local
from shiming.seed import demo_credit_code
from tests.helpers.factories import create_application

CLEAN = Thresholds()


def _kinds(flags):
    return sorted(f.kind for f in flags)


def _flags(services, project_id, thresholds=CLEAN):
    with services.Session() as db:
        return fraud.project_flags(db, services.blobs, project_id, MONTH, thresholds)


def _clean_site(services):
    """The known site: no flag but its rebar team's correction ratio, 3 / (5 + 3) = 37 %."""
    return build_site(services)


def test_the_clean_site_raises_no_flag_at_a_ratio_it_does_not_exceed(services):
    site = _clean_site(services)
    # 钢筋班组: 3 approved corrections over 5 punches + 3 = 37 %: under a 40 % threshold nothing fires
    assert _flags(services, site.project_id, Thresholds(correction_ratio_pct=40)) == []


def test_team_correction_ratio_over_the_threshold_fires_for_that_team_only(services):
    site = _clean_site(services)
    flags = _flags(services, site.project_id)  # default 10 %
    assert [(f.kind, f.team, f.value) for f in flags] == [(FlagKind.CORRECTION_RATIO, "钢筋班组", 37)]
    with services.Session() as db:
        counts = fraud.flag_counts(db, services.blobs, [site.project_id], MONTH, CLEAN)
    assert counts[site.project_id][FlagKind.CORRECTION_RATIO] == 1
    assert sum(counts[site.project_id].values()) == 1


def test_same_face_on_another_project_the_same_day_fires_on_both(services):
    site = _clean_site(services)
    app_id, _n, _w = create_application(services)
    with services.Session.begin() as db:
        other = reg.approve(db, services.cipher, db.get(RegistrationApplication, app_id))[0]
        company = wf.ensure_company(db, other.id, "其他劳务", demo_credit_code("91450100MA5LW0088"),
                                    CompanyKind.LABOUR_COMPANY)
        team = wf.ensure_team(db, other.id, company.id, "钢筋班组")
        worker = db.get(Worker, site.workers["甲"])
        wf.enrol(db, project_id=other.id, worker=worker, team=team, company=company, trade="020",
                 daily_rate_fen=30000, entry_date=date(2026, 9, 1))
        add_punch(db, other.id, worker.id, "2026-10-09", "12:00")
        other_id = other.id
    here = [f for f in _flags(services, site.project_id, Thresholds(40)) if f.kind == FlagKind.SAME_FACE_ELSEWHERE]
    assert [(f.worker_id, f.day, f.value) for f in here] == [(site.workers["甲"], date(2026, 10, 9), other_id)]
    there = _flags(services, other_id, Thresholds(40))
    assert [(f.kind, f.value) for f in there] == [(FlagKind.SAME_FACE_ELSEWHERE, site.project_id)]


def test_punch_after_exit_fires_after_the_exit_date_or_the_revocation(services):
    site = _clean_site(services)
    with services.Session.begin() as db:
        pw = db.scalar(select(ProjectWorker).where(ProjectWorker.project_id == site.project_id,
                                                   ProjectWorker.worker_id == site.workers["丙"]))
        pw.exit_date = date(2026, 10, 8)  # 丙 punched on the 9th
        a = db.scalar(select(ProjectWorker).where(ProjectWorker.project_id == site.project_id,
                                                  ProjectWorker.worker_id == site.workers["甲"]))
        db.add(SiteAccessRevocation(project_id=site.project_id, worker_id=a.worker_id, project_worker_id=a.id,
                                    issued_at=local("2026-10-12", "07:00")))  # 甲's 08:00 punch of the 12th
    flags = [f for f in _flags(services, site.project_id, Thresholds(40)) if f.kind == FlagKind.AFTER_EXIT]
    assert sorted((f.worker_id, f.day) for f in flags) == sorted([
        (site.workers["丙"], date(2026, 10, 9)), (site.workers["丙"], date(2026, 10, 9)),
        (site.workers["甲"], date(2026, 10, 12))])


def test_low_match_score_fires_below_the_configured_threshold(services):
    site = _clean_site(services)
    with services.Session.begin() as db:
        add_punch(db, site.project_id, site.workers["乙"], "2026-10-20", "08:00", match_score=650)
        add_punch(db, site.project_id, site.workers["乙"], "2026-10-20", "17:00", "out", match_score=900)
    flags = [f for f in _flags(services, site.project_id, Thresholds(40)) if f.kind == FlagKind.LOW_MATCH]
    assert [(f.worker_id, f.value) for f in flags] == [(site.workers["乙"], 650)]
    assert [f for f in _flags(services, site.project_id, Thresholds(40, low_match_score=600))
            if f.kind == FlagKind.LOW_MATCH] == []


def test_altered_photo_fires_when_the_stored_bytes_no_longer_hash_to_the_recorded_sha256(services):
    site = _clean_site(services)
    photo = b"\xff\xd8\xff\xe0 a watermarked jpeg \xff\xd9"
    with services.Session.begin() as db:
        intact = services.blobs.store(db, photo, "image/jpeg", "punch.jpg")
        add_punch(db, site.project_id, site.workers["甲"], "2026-10-21", "08:00", photo_file_id=intact.id,
                  photo_sha256=hashlib.sha256(photo).hexdigest())
        other = photo + b"second"
        stored = services.blobs.store(db, other, "image/jpeg", "punch2.jpg")
        tampered = add_punch(db, site.project_id, site.workers["乙"], "2026-10-21", "08:00",
                             photo_file_id=stored.id, photo_sha256=hashlib.sha256(other).hexdigest())
    assert [f for f in _flags(services, site.project_id, Thresholds(40)) if f.kind == FlagKind.ALTERED_PHOTO] == []
    services.blobs.path_for(stored.sha256).write_bytes(other.replace(b"jpeg", b"JPEG"))  # edited on disk
    flags = [f for f in _flags(services, site.project_id, Thresholds(40)) if f.kind == FlagKind.ALTERED_PHOTO]
    assert [(f.punch_id, f.worker_id) for f in flags] == [(tampered.id, site.workers["乙"])]


# ---- the rules alone ------------------------------------------------------------------------------

D = date(2026, 10, 9)
T = datetime(2026, 10, 9, 1, 0)


def test_rules_fire_on_their_records_and_not_on_clean_ones():
    mine = [PunchFact(1, 7, 100, D, T, match_score=950), PunchFact(2, 7, 101, D, T, match_score=None)]
    assert same_face_elsewhere(7, mine) == []
    assert _kinds(same_face_elsewhere(7, mine + [PunchFact(3, 8, 100, D, T)])) == [FlagKind.SAME_FACE_ELSEWHERE]
    assert same_face_elsewhere(7, mine + [PunchFact(3, 8, 100, date(2026, 10, 10), T)]) == []
    assert after_exit(mine, {100: ExitFact(100, D, None)}) == []  # the exit day itself still counts
    assert _kinds(after_exit(mine, {100: ExitFact(100, date(2026, 10, 8), None)})) == [FlagKind.AFTER_EXIT]
    assert correction_ratio([TeamMonth("a", 90, 10)], 10) == []  # exactly 10 % is not over it
    assert [f.value for f in correction_ratio([TeamMonth("a", 89, 11)], 10)] == [11]
    assert correction_ratio([TeamMonth("a", 0, 0)], 0) == []
    assert low_match(mine, 700) == [] and [f.punch_id for f in low_match(mine, 951)] == [1]
    good = hashlib.sha256(b"x").hexdigest()
    assert altered_photo([PunchFact(1, 7, 100, D, T, recorded_sha256=good, photo=b"x", has_photo=True)]) == []
    assert altered_photo(mine) == []  # no photo recorded: nothing to judge
    assert len(altered_photo([PunchFact(1, 7, 100, D, T, recorded_sha256=good, photo=b"y", has_photo=True),
                              PunchFact(2, 7, 100, D, T, recorded_sha256=good, photo=None, has_photo=True)])) == 2


def test_thresholds_come_from_the_environment_and_a_bad_one_is_refused(tmp_path, monkeypatch):
    import pytest

    from domain.settings import ConfigError
    from tests.helpers.services import make_settings

    assert fraud.thresholds_of(make_settings(tmp_path)) == Thresholds(10, 700)
    monkeypatch.setenv("SHIMING_FRAUD_CORRECTION_RATIO_PCT", "25")
    monkeypatch.setenv("SHIMING_FRAUD_LOW_MATCH_SCORE", "650")
    assert fraud.thresholds_of(make_settings(tmp_path)) == Thresholds(25, 650)
    for value in ("abc", "1001", "-1"):
        monkeypatch.setenv("SHIMING_FRAUD_LOW_MATCH_SCORE", value)
        with pytest.raises(ConfigError):
            make_settings(tmp_path)
