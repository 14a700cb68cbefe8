"""Project and enterprise accounts see the projects in their scope, and nothing else."""
from __future__ import annotations

from sqlalchemy import select

from domain.models import Account, Project
from tests.helpers.web_app import account_id, enter_session


def _page(app, services, username: str) -> str:
    client = app.test_client()
    enter_session(client, services, username)
    response = client.get("/project/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_project_account_sees_its_project_with_the_phone_masked(app, services):
    with services.Session() as db:
        project = db.get(Project, db.get(Account, account_id(services, "project")).project_id)
    page = _page(app, services, "project")
    assert f'data-project-code="{project.code}"' in page and project.name in page
    assert "138****8000" in page and "13800138000" not in page


def test_the_enterprise_sees_its_projects_only(app, services):
    with services.Session.begin() as db:
        other = db.scalars(select(Project)).first()
        code = other.code
    assert f'data-project-code="{code}"' in _page(app, services, "enterprise")
    with services.Session.begin() as db:
        db.scalar(select(Project).where(Project.code == code)).enterprise_id = None
    page = _page(app, services, "enterprise")
    assert f'data-project-code="{code}"' not in page and 'id="no-projects"' in page
