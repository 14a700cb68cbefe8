"""Bank connectors (PAY-5): the BankConnector protocol, the wage-file codec and a reference bank.

- `protocol`  — `BankConnector` (validate_account, submit_wage_file), its dataclasses and codes,
                `BankUnavailable` for retryable trouble;
- `wagefile`  — the wage-file plaintext (JSON Lines), the sealed and signed envelope, the signed
                statement (`seal_wage_file`, `open_wage_file`, `sign_statement`, `verify_statement`);
- `keys`      — a party's Ed25519 + X25519 key pairs on disk and their public JSON form; the bank's
                keys as the platform pins them (`PinnedBankKeys`, `PinnedKeysFile`: a key file
                provisioned out of band, several key sets during a rotation);
- `http`      — `HttpBankConnector` over the bank's HTTP API (`fetch_bank_keys` only to compare
                fingerprints: the platform never trusts keys fetched from an address);
- `exchange`  — `FileExchangeConnector` over an outgoing / incoming folder pair;
- `reference_bank` — `shiming bank`, the test double for a real bank, a party of its own.

Specification: docs/bank-protocol.md. This package imports only the standard library,
cryptography, flask, sqlalchemy and itself — never `domain` — so a bank adapter can be built on it.
"""
