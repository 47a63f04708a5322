"""Throughput of the pure discount-stacking engine (no I/O).

A 5-line cart with 6 vouchers that all apply (flash sale, store coupon, full reduction, platform coupon,
宠爱红包, coins) so every stage of the engine runs. Prints pricings per second next to a baseline
measured in the same run: the same number of iterations of a trivial pure-Python loop summing the
cart's line amounts, and the ratio between the two (how many "trivial loops" one pricing costs).

    uv run python bench/bench_pricing_engine.py [--iterations N] [--repeat R]

Target: 30,000 pricings/s (issue #17). Times are CPU time of this process (``time.process_time``), so other work
on a shared machine does not count against the engine; engine and baseline runs are interleaved and
the best of ``repeat`` runs is reported for each.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

from liveshop.promotion.domain.pricing import CartLine, PricingRequest, price_order
from liveshop.promotion.domain.vouchers import (
    Coins,
    FlashSale,
    FullReduction,
    MerchantCoupon,
    PlatformCoupon,
    StreamerRedEnvelope,
    Voucher,
)

TARGET_PER_SECOND = 30_000
AT = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)

LINES = [
    CartLine(1, "p1", "m1", 12_900, 1),
    CartLine(2, "p2", "m1", 5_990, 2),
    CartLine(3, "p3", "m1", 2_500, 3),
    CartLine(4, "p4", "m1", 39_900, 1),
    CartLine(5, "p5", "m1", 990, 4),
]
VOUCHERS: list[Voucher] = [
    FlashSale(voucher_id="fs", merchant_id="m1", product_id="p1", flash_price=9_900),
    MerchantCoupon(voucher_id="mc", merchant_id="m1", owner_id="b1", amount=2_000, threshold=20_000),
    FullReduction(voucher_id="fr", merchant_id="m1", threshold=30_000, percent_off=5),
    PlatformCoupon(voucher_id="pc", owner_id="b1", amount=1_500, threshold=10_000),
    StreamerRedEnvelope(
        voucher_id="re", owner_id="b1", streamer_id="s1", amount=800, product_ids=frozenset({"p2", "p4"})
    ),
    Coins(voucher_id="co", owner_id="b1", amount=1_000),
]
REQUEST = PricingRequest(buyer_id="b1", lines=LINES, at=AT, vouchers=VOUCHERS, streamer_id="s1")


def baseline(iterations: int) -> float:
    """Seconds for ``iterations`` trivial loops summing the cart's line amounts."""
    lines = LINES
    start = time.process_time()
    for _ in range(iterations):
        total = 0
        for line in lines:
            total += line.unit_price * line.quantity
    return time.process_time() - start


def engine(iterations: int) -> float:
    """Seconds for ``iterations`` full pricings of the cart."""
    request = REQUEST
    start = time.process_time()
    for _ in range(iterations):
        price_order(request)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n: int = args.iterations

    result = price_order(REQUEST)
    applied = len(result.applied)
    assert applied == len(VOUCHERS), f"every voucher should apply, got {applied}"
    f = result.funding
    assert f.item_total == f.buyer_payable + f.merchant_funded + f.streamer_funded + f.platform_funded

    engine(min(n, 1_000))  # warm-up
    engine_runs: list[float] = []
    baseline_runs: list[float] = []
    for _ in range(args.repeat):
        engine_runs.append(engine(n))
        baseline_runs.append(baseline(n))
    engine_s = min(engine_runs)
    baseline_s = min(baseline_runs)
    engine_rate = n / engine_s
    baseline_rate = n / baseline_s

    print(
        f"cart: {len(LINES)} lines, {len(VOUCHERS)} vouchers ({applied} applied); {n} iterations, best of {args.repeat}"
    )
    print(f"engine   : {engine_rate:>12,.0f} pricings/s  ({engine_s / n * 1e6:8.2f} us each)")
    print(
        f"baseline : {baseline_rate:>12,.0f} loops/s     ({baseline_s / n * 1e6:8.2f} us each)  trivial line-sum loop"
    )
    print(f"ratio    : {baseline_rate / engine_rate:>12,.1f} x  (one pricing costs this many trivial loops)")
    verdict = "meets" if engine_rate >= TARGET_PER_SECOND else "MISSES"
    print(f"target   : {TARGET_PER_SECOND:>12,} pricings/s  -> {verdict} target")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average {load} on {os.cpu_count()} CPUs: CPU time per pricing still grows on a busy machine)")


if __name__ == "__main__":
    main()
