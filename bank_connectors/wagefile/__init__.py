"""The wage file (代发工资文件) and the bank statement: codec, envelope and signatures.

docs/bank-protocol.md is the specification; this package is its reference implementation.

- Plaintext: UTF-8 JSON Lines, a header object then one object per line (`encode_wage_file`);
  module plaintext.
- Envelope: the plaintext encrypted with a random content key (SM4-GCM, or AES-256-GCM), the
  content key wrapped for the bank's X25519 key (ephemeral ECDH + HKDF-SHA256), the whole signed
  with the platform's Ed25519 key (`seal_wage_file` / `open_wage_file`); module envelope.
- Statement: the bank's answer per line, signed with the bank's Ed25519 key
  (`sign_statement` / `verify_statement`); module statement.

This package exports their public names.
"""
from .plaintext import (
    FORMAT,
    BATCH_ID_RE,
    MONTH_RE,
    ACCOUNT_RE,
    CARD_RE,
    ID_NUMBER_RE,
    MAX_AMOUNT_FEN,
    MAX_LINES,
    HEADER_FIELDS,
    LINE_FIELDS,
    WageFileError,
    WageFileHeader,
    WageFileLine,
    encode_wage_file,
    decode_wage_file,
)
from .envelope import (
    ENVELOPE_VERSION,
    ALG_SM4,
    ALG_AES,
    WAGE_FILE_DOMAIN,
    HKDF_INFO,
    CEK_AAD,
    CONTENT_AAD,
    SUPPORTED_ALGS,
    DEFAULT_ALG,
    ENVELOPE_FIELDS,
    sm4_gcm_available,
    seal_wage_file,
    parse_envelope,
    open_envelope,
    open_wage_file,
)
from .statement import (
    STATEMENT_VERSION,
    STATEMENT_DOMAIN,
    CARD_CLOSED,
    CARD_UNKNOWN,
    NAME_MISMATCH,
    FAILURE_CODES,
    PAID,
    FAILED,
    STATEMENT_LINE_FIELDS,
    STATEMENT_FIELDS,
    StatementError,
    StatementLine,
    Statement,
    sign_statement,
    parse_json_document,
    statement_signer,
    verify_statement,
)

__all__ = [
    "FORMAT", "BATCH_ID_RE", "MONTH_RE", "ACCOUNT_RE", "CARD_RE", "ID_NUMBER_RE", "MAX_AMOUNT_FEN", "MAX_LINES",
    "HEADER_FIELDS", "LINE_FIELDS", "WageFileError", "WageFileHeader", "WageFileLine", "encode_wage_file",
    "decode_wage_file",
    "ENVELOPE_VERSION", "ALG_SM4", "ALG_AES", "WAGE_FILE_DOMAIN", "HKDF_INFO", "CEK_AAD", "CONTENT_AAD",
    "SUPPORTED_ALGS", "DEFAULT_ALG", "ENVELOPE_FIELDS", "sm4_gcm_available", "seal_wage_file", "parse_envelope",
    "open_envelope", "open_wage_file",
    "STATEMENT_VERSION", "STATEMENT_DOMAIN", "CARD_CLOSED", "CARD_UNKNOWN", "NAME_MISMATCH", "FAILURE_CODES",
    "PAID", "FAILED", "STATEMENT_LINE_FIELDS", "STATEMENT_FIELDS", "StatementError", "StatementLine", "Statement",
    "sign_statement", "parse_json_document", "statement_signer", "verify_statement",
]
