"""Wage files for the bank tests."""
from __future__ import annotations

import uuid

from bank_connectors.keys import KeyPairs, PublicKeys
from bank_connectors.wagefile import WageFileHeader, WageFileLine, encode_wage_file, seal_wage_file

PAYER_ACCOUNT = "6222020200012345678"
PAYER_NAME = "中建某局某项目部农民工工资专户"
LEDGER = {
    "accounts": [
        {"number": PAYER_ACCOUNT, "name": PAYER_NAME, "kind": "wage", "status": "open"},
        {"number": "6222020200087654321", "name": "某劳务公司", "kind": "ordinary", "status": "open"},
        {"number": "6222020200011110000", "name": "已销户项目部工资专户", "kind": "wage", "status": "closed"},
    ],
    "cards": [
        {"number": "6217000010000000001", "holder_name": "张三", "status": "open"},
        {"number": "6217000010000000002", "holder_name": "李四", "status": "closed"},
        {"number": "6217000010000000003", "holder_name": "王五", "status": "open"},
    ],
}
OPEN_CARD = ("张三", "6217000010000000001")
CLOSED_CARD = ("李四", "6217000010000000002")
UNKNOWN_CARD = ("赵六", "6217000019999999999")
NAME_MISMATCH = ("王伍", "6217000010000000003")  # the card belongs to 王五


def new_batch_id() -> str:
    return f"WR-{uuid.uuid4().hex[:12]}-v1"


def wage_file(batch_id: str, people=(OPEN_CARD,), amounts=None, payer_account: str = PAYER_ACCOUNT,
              payer_name: str = PAYER_NAME) -> tuple[WageFileHeader, list[WageFileLine]]:
    amounts = amounts or [350_000 + 100 * i for i in range(len(people))]
    lines = [WageFileLine(seq=i, worker_name=name, id_number=f"11010119900101{1000 + i}", card_number=card,
                          bank_name="中国建设银行", amount_fen=amount, remark="2025年3月工资")
             for i, ((name, card), amount) in enumerate(zip(people, amounts), start=1)]
    header = WageFileHeader(batch_id=batch_id, payer_account=payer_account, payer_name=payer_name,
                            project_code="P-2025-0042", month="2025-03", line_count=len(lines),
                            total_fen=sum(line.amount_fen for line in lines))
    return header, lines


def sealed(batch_id: str, platform: KeyPairs, bank: PublicKeys, **kwargs) -> bytes:
    header, lines = wage_file(batch_id, **kwargs)
    return seal_wage_file(encode_wage_file(header, lines), batch_id=batch_id,
                          platform_signing_key=platform.signing, bank_public_key=bank.encryption)
