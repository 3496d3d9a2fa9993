"""Reports: the monthly report (per-department figures, bad ratings, the ticket ledger)."""
