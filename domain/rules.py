"""Pure validation rules for identifiers entered by people."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Optional

from .calendar import LOCAL_TZ

# GB 32100-2015 unified social credit code: 18 characters from this alphabet
# (no I, O, Z, S, V); the last one is a check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_credit_code(code: str) -> str:
    return (code or "").strip().upper()


def credit_code_check_char(first17: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    code = normalize_credit_code(code)
    if len(code) != 18 or any(c not in _CREDIT_ALPHABET for c in code):
        return False
    return credit_code_check_char(code[:17]) == code[17]


def normalize_mobile(phone: str) -> str:
    phone = re.sub(r"[\s-]", "", phone or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    return phone


def is_valid_mobile(phone: str) -> bool:
    """A mainland China mobile number: 11 digits starting 13–19."""
    return bool(_MOBILE_RE.match(normalize_mobile(phone)))


def mask_phone(phone: str) -> str:
    """First 3 + last 4 digits, the rest starred."""
    p = normalize_mobile(phone)
    if len(p) < 8:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]


# --- resident ID numbers (GB 11643-1999) -------------------------------------------------------

# Province-level prefixes of GB/T 2260 (the first two digits of an ID number's region code),
# plus 71 Taiwan, 81 Hong Kong and 82 Macao.
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15",  # Beijing, Tianjin, Hebei, Shanxi, Inner Mongolia
    "21", "22", "23",  # Liaoning, Jilin, Heilongjiang
    "31", "32", "33", "34", "35", "36", "37",  # Shanghai … Shandong
    "41", "42", "43", "44", "45", "46",  # Henan … Hainan (45 Guangxi)
    "50", "51", "52", "53", "54",  # Chongqing, Sichuan, Guizhou, Yunnan, Tibet
    "61", "62", "63", "64", "65",  # Shaanxi, Gansu, Qinghai, Ningxia, Xinjiang
    "71", "81", "82",
})
# ISO 7064 MOD 11-2: weight of position i (0-based, left to right) is 2**(17 - i) mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
_ID_FORMAT_RE = re.compile(r"^[0-9]{17}[0-9X]$")
ID_MIN_AGE, ID_MAX_AGE = 16, 100


def normalize_id_number(s: str) -> str:
    return (s or "").strip().upper()


def id_number_check_char(first17: str) -> str:
    return _ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def _birth_date_or_none(s: str) -> Optional[date]:
    try:
        return date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return None


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def id_number_problems(s: str, *, today: Optional[date] = None) -> list[str]:
    """What is wrong with an ID number: [] when valid, else codes from
    "format", "region", "birth_date", "check_digit" (format alone when the shape is wrong).

    `today` (local date) defaults to today in China Standard Time; the holder must be 16–100.
    """
    s = normalize_id_number(s)
    if not _ID_FORMAT_RE.match(s):
        return ["format"]
    problems = []
    if s[:2] not in PROVINCE_CODES:
        problems.append("region")
    born = _birth_date_or_none(s)
    today = today or local_today()
    if born is None or born > today or not (ID_MIN_AGE <= _age_on(born, today) <= ID_MAX_AGE):
        problems.append("birth_date")
    if id_number_check_char(s[:17]) != s[17]:
        problems.append("check_digit")
    return problems


def is_valid_id_number(s: str, *, today: Optional[date] = None) -> bool:
    return not id_number_problems(s, today=today)


def birth_date_of(s: str) -> date:
    """The birth date encoded in an ID number (ValueError when it has none)."""
    s = normalize_id_number(s)
    born = _birth_date_or_none(s) if _ID_FORMAT_RE.match(s) else None
    if born is None:
        raise ValueError("ID number carries no valid birth date")
    return born


def gender_of(s: str) -> str:
    """"M" or "F": the 17th digit (sequence code) is odd for men, even for women."""
    s = normalize_id_number(s)
    if not _ID_FORMAT_RE.match(s):
        raise ValueError("malformed ID number")
    return "M" if int(s[16]) % 2 else "F"


def mask_id_number(s: str) -> str:
    """First 3 + last 4 characters, the rest starred; short values are starred entirely."""
    s = normalize_id_number(s)
    if len(s) < 8:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


# --- bank card numbers -----------------------------------------------------------------------

_CARD_RE = re.compile(r"^[0-9]{12,19}$")
CARD_MASK_PREFIX = "**** **** **** "  # every masked card reads "**** **** **** 1234", whatever its length


def normalize_card_number(s: str) -> str:
    return re.sub(r"\s", "", s or "")


def luhn_check_digit(body: str) -> str:
    """The digit that completes `body` under the Luhn (mod 10) check."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # doubled: these are the 2nd, 4th … digits from the right of the full number
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def card_number_problems(s: str) -> list[str]:
    """[] when valid, else "format" (not 12–19 digits) or "check_digit" (Luhn)."""
    s = normalize_card_number(s)
    if not _CARD_RE.match(s):
        return ["format"]
    if luhn_check_digit(s[:-1]) != s[-1]:
        return ["check_digit"]
    return []


def is_valid_card_number(s: str) -> bool:
    return not card_number_problems(s)


def mask_card_number(s: str) -> str:
    """Only the last 4 digits show, in one fixed shape: "**** **** **** 1234".

    Works from a full number or from the stored `last4` alike; fewer than 8 characters are
    starred entirely unless exactly the 4 last digits were given.
    """
    s = normalize_card_number(s)
    if len(s) == 4 or len(s) >= 8:
        return CARD_MASK_PREFIX + s[-4:]
    return "*" * len(s)


# --- trades (national data standard for construction workers) -----------------------------------

TRADE_CODES: dict[str, str] = {
    "010": "砌筑工", "020": "钢筋工", "030": "架子工", "040": "混凝土工", "050": "模板工",
    "060": "机械设备安装工", "070": "通风工", "080": "安装起重工", "090": "安装钳工",
    "100": "电气设备安装调试工", "110": "管道工", "120": "变电安装工", "130": "建筑电工",
    "140": "司泵工", "150": "挖掘铲运和桩工机械司机", "160": "桩机操作工", "170": "起重信号工",
    "180": "建筑起重机械安装拆卸工", "190": "装饰装修工", "200": "室内成套设施安装工",
    "210": "建筑门窗幕墙安装工", "220": "幕墙制作工", "230": "防水工", "240": "木工", "250": "石工",
    "270": "电焊工", "280": "爆破工", "290": "除尘工", "300": "测量放线工", "310": "线路架设工",
    "320": "古建筑传统石工", "330": "古建筑传统瓦工", "340": "古建筑传统彩画工",
    "350": "古建筑传统木工", "360": "古建筑传统油工", "380": "金属工", "390": "普工",
    "900": "管理人员", "1000": "其他",
}


def normalize_trade_code(s) -> str:
    """"010" from "010", " 10" or the number 10 (Excel drops leading zeros)."""
    s = str(s if s is not None else "").strip()
    return s.zfill(3) if s.isdigit() and len(s) < 3 else s


def is_valid_trade_code(s) -> bool:
    return normalize_trade_code(s) in TRADE_CODES


def local_today() -> date:
    """Today's date in China Standard Time."""
    return datetime.now(LOCAL_TZ).date()
