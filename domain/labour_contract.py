"""The labour contract (劳动合同, ENR-6) an enrolment generates: a .docx to print, sign and scan
back (python-docx), with employer, project, worker (ID number masked), trade, team, period and
daily rate. The signed scan is recorded by `domain.enrolment.record_contract_scan`."""
from __future__ import annotations

import io

from docx import Document
from docx.shared import Pt
from sqlalchemy.orm import Session

from . import scope
from .blobstore import BlobStore
from .enrolment import id_number_of
from .models import Company, Enrolment, Project, StoredFile, Team
from .pii import PiiCipher
from .processes.enrolment import EnrolmentState
from .rules import TRADE_CODES, mask_id_number

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def contract_docx(enrolment: Enrolment, project: Project, company: Company, team: Team, id_number_masked: str,
                  labels: dict[str, str]) -> bytes:
    """The labour contract to print, sign and scan back. `labels` carries the captions (Chinese
    by default: CONTRACT_LABELS below); the ID number appears masked."""
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(11)
    doc.add_heading(labels["title"], level=1)
    end = enrolment.contract_end.isoformat() if enrolment.contract_end else labels["open_ended"]
    rows = [
        (labels["employer"], f"{company.name} ({company.credit_code})"),
        (labels["project"], f"{project.name} ({project.code})"),
        (labels["worker"], enrolment.name),
        (labels["id_number"], id_number_masked),
        (labels["trade"], f"{enrolment.trade} {TRADE_CODES.get(enrolment.trade, '')}"),
        (labels["team"], f"{team.name}" + (f" ({team.leader_name})" if team.leader_name else "")),
        (labels["period"], f"{enrolment.contract_start.isoformat()} — {end}"),
        (labels["daily_rate"], f"{enrolment.daily_rate_fen // 100}.{enrolment.daily_rate_fen % 100:02d}"),
    ]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("")
    for clause in labels["clauses"].split("\n"):
        doc.add_paragraph(clause)
    doc.add_paragraph(f'{labels["employer_sign"]}:')
    doc.add_paragraph(f'{labels["worker_sign"]}:')
    doc.add_paragraph(f'{labels["date"]}:')
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


CONTRACT_LABELS = {
    "title": "劳动合同", "employer": "用人单位（甲方）", "project": "工程项目", "worker": "劳动者（乙方）",
    "id_number": "身份证号", "trade": "工种", "team": "班组（班组长）", "period": "合同期限",
    "open_ended": "以完成一定工作任务为期限", "daily_rate": "日工资（元）",
    "clauses": ("一、甲方按月足额以银行转账方式支付乙方工资，不得拖欠。\n"
                "二、乙方须经安全教育培训合格后方可进场作业。\n"
                "三、双方其他权利义务依照《劳动合同法》和《保障农民工工资支付条例》执行。"),
    "employer_sign": "甲方（盖章）", "worker_sign": "乙方（签字）", "date": "签订日期",
}


def generate_contract(session: Session, cipher: PiiCipher, blobs: BlobStore, enrolment: Enrolment) -> StoredFile:
    """Store the generated contract once (a retry finds it)."""
    if enrolment.contract_file_id is not None:
        return session.get(StoredFile, enrolment.contract_file_id)
    with scope.unscoped():
        project = session.get(Project, enrolment.project_id)
        company, team = session.get(Company, enrolment.company_id), session.get(Team, enrolment.team_id)
    data = contract_docx(enrolment, project, company, team, mask_id_number(id_number_of(cipher, enrolment)),
                         CONTRACT_LABELS)
    stored = blobs.store(session, data, DOCX, f"labour-contract-{enrolment.id}.docx")
    enrolment.contract_file_id = stored.id
    enrolment.state = EnrolmentState.AWAITING_DOCUMENTS
    session.flush()
    return stored
