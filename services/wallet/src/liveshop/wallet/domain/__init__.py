"""The wallet's domain: a double-entry ledger (standard library only)."""

from liveshop.wallet.domain.accounts import (
    CHART,
    DEFAULT_LEDGER,
    Account,
    AccountBalance,
    AccountCode,
    AccountFlags,
    AccountKind,
    Balances,
    Side,
)
from liveshop.wallet.domain.errors import ErrorCode, LedgerError, WalletError
from liveshop.wallet.domain.ledger import Ledger
from liveshop.wallet.domain.state import AccountResult, Changes, LedgerState
from liveshop.wallet.domain.transfers import (
    PendingStatus,
    StatementEntry,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    TransferResult,
)

__all__ = [
    "CHART",
    "DEFAULT_LEDGER",
    "Account",
    "AccountBalance",
    "AccountCode",
    "AccountFlags",
    "AccountKind",
    "AccountResult",
    "Balances",
    "Changes",
    "ErrorCode",
    "Ledger",
    "LedgerError",
    "LedgerState",
    "PendingStatus",
    "Side",
    "StatementEntry",
    "Transfer",
    "TransferCode",
    "TransferFlags",
    "TransferRecord",
    "TransferResult",
    "WalletError",
]
