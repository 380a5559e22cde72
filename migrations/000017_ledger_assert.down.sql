DROP FUNCTION ledger_assert(boolean, text);
