"""The wallet's command and event handlers, one module per aggregate: plain async functions over a unit of work
(:mod:`liveshop.wallet.service_layer.unit_of_work`), each in one database transaction.

- :mod:`.top_ups`: top-ups of a streamer's marketing wallet, confirmed by the payment provider or finance;
- :mod:`.payments`: simulated payments of orders, refunds, voided and expired holds;
- :mod:`.budgets`: red-envelope budgets (holds, releases, redemptions) asked for by promotion;
- :mod:`.secure_wallet`: the merchant's secure wallet (安心钱包);
- :mod:`.fee_invoices`: channel-fee invoices (a ``FeeInvoiceRepository``, in the caller's transaction);
- 先用后付 bills (a ``BnplUnitOfWork``): :mod:`.bnpl_bills` (order events and the campaign discount make and
  move the bill), :mod:`.bnpl_collection` (the collector, the buyer's repayment), :mod:`.bnpl_ledger` (the
  bill's money in the ledger), :mod:`.bnpl_views` (what the buyer and finance read);
- :mod:`.common`: what they share.

Every money movement is a ledger transfer whose id is derived from the business id (top-up id, order
id, budget request id), so a redelivered event or a retried command can never move money twice: the
ledger returns the first result for the same id and content. The business records (``Payment``,
``TopUp``, ``BudgetOp``, the bill) remember the answer so a redelivery gets the same answer and no second event.
"""
