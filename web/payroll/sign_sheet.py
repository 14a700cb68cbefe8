"""The sign sheet of a run (wage step 2) for the reader: the accepted table's lines and the words in
the reader's language, handed to the pure builder `domain.sign_sheet`."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from domain.models import Company, Project, ProjectWorker, Team, WageLine, WageRun, Worker
from domain.pii import PiiCipher
from domain.rules import mask_id_number
from domain.sign_sheet import SheetHeader, SheetLabels, SheetLine, build_sign_sheet

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def labels() -> SheetLabels:
    return SheetLabels(
        title=_("Wage payment sign sheet"),
        project=_("Project"),
        month=_("Month"),
        company=_("General contractor"),
        teams=_("Teams and their companies"),
        columns=(_("No."), _("Name"), _("ID number"), _("Team"), _("Days worked"), _("Net (yuan)"),
                 _("Worker's signature")),
        back_pay=_("back pay for {month}"),
        total=_("Total: {count} worker line(s)"),
        page=_("Page {page} of {pages}"),
    )


def sign_sheet_docx(db, cipher: PiiCipher, run: WageRun) -> bytes:
    """The .docx of the run's accepted table: one row per wage line, in the table's order."""
    project = db.get(Project, run.project_id)
    rows = db.execute(
        select(WageLine.seq, WageLine.days, WageLine.net_fen, WageLine.back_pay_month, Worker.name,
               Worker.id_number_enc, Team.name, Company.name)
        .join(Worker, Worker.id == WageLine.worker_id)
        .outerjoin(ProjectWorker, (ProjectWorker.worker_id == WageLine.worker_id)
                   & (ProjectWorker.project_id == run.project_id))
        .outerjoin(Team, Team.id == ProjectWorker.team_id)
        .outerjoin(Company, Company.id == ProjectWorker.company_id)
        .where(WageLine.run_id == run.id).order_by(WageLine.seq)).all()
    lines, teams = [], {}
    for seq, days, net_fen, back_pay_month, name, id_number_enc, team, company in rows:
        masked = mask_id_number(cipher.decrypt(id_number_enc, "id_number"))
        lines.append(SheetLine(seq=seq, name=name, masked_id=masked, team=team or "", days=days,
                               net_fen=net_fen, back_pay_month=back_pay_month))
        if team:
            teams.setdefault(f"{team}（{company}）" if company else team, None)
    header = SheetHeader(project_name=project.name, project_code=project.code, month=run.month,
                         company=project.contractor_name, teams=tuple(teams))
    return build_sign_sheet(header, lines, labels())
