"""The templates a project's terminals receive: admitted workers with a face, and revocations."""
from __future__ import annotations

import secrets

from domain.device_templates import open_gallery, project_gallery, seal_gallery
from tests.helpers import enrolment as enrolment_helpers
from tests.helpers.enrolment import TEMPLATE
from tests.helpers.terminal import admitted_worker, exit_worker

OTHER = bytes(reversed(TEMPLATE))


def test_admitted_workers_are_in_the_gallery_and_an_exit_moves_them_to_revoked(services):
    site = enrolment_helpers.site(services)
    first = admitted_worker(services, site, 201, TEMPLATE)
    second = admitted_worker(services, site, 202, OTHER, name="韦秀英")
    enrolment_helpers.start(services, site, enrolment_helpers.record(site, id_number=enrolment_helpers.id_number(203),
                                                                     phone="13800000203"))  # not admitted
    with services.Session() as session:
        before = project_gallery(session, services.cipher, site.project_id)
    assert before.templates == [(first, TEMPLATE), (second, OTHER)] and before.revoked == []
    exit_worker(services, site, first)
    with services.Session() as session:
        after = project_gallery(session, services.cipher, site.project_id)
        other_project = project_gallery(session, services.cipher, enrolment_helpers.other_project(services))
    assert after.templates == [(second, OTHER)] and after.revoked == [first]
    assert after.version != before.version and other_project.templates == [] and other_project.revoked == []
    secret = secrets.token_hex(32)
    assert open_gallery(seal_gallery(after, "GATE-01", secret), "GATE-01", secret) == after
    with services.Session() as session:
        again = project_gallery(session, services.cipher, site.project_id, since=after.version)
    assert again.version == after.version and again.templates == []         # the device has them: none decrypted
    assert seal_gallery(again, "GATE-01", secret, since=after.version)["unchanged"] is True


def test_a_template_that_does_not_decrypt_leaves_only_that_worker_out(services):
    from sqlalchemy import select

    from domain.models import FaceTemplate

    site = enrolment_helpers.site(services)
    first = admitted_worker(services, site, 211, TEMPLATE)
    second = admitted_worker(services, site, 212, OTHER, name="韦秀英")
    with services.Session.begin() as session:
        rows = {t.worker_id: t for t in session.scalars(select(FaceTemplate))}
        rows[first].template_enc = rows[second].template_enc      # copied onto another row: bound to its worker
    with services.Session() as session:
        gallery = project_gallery(session, services.cipher, site.project_id)
    assert gallery.templates == [(second, OTHER)] and gallery.unreadable == [first]
