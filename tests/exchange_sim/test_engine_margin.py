"""The liquidation price in the leverage tier of the notional at that price (reference 11.4:
"the bracket depends on notional at the liquidation price"), by hand with the reference's
illustrative BTCUSDT tiers (config.DEFAULT_BRACKETS): tier 1 below 50,000 USDT of notional
(MMR 0.004, cum 0), tier 2 up to 600,000 (MMR 0.005, cum 50)."""

from decimal import Decimal as D

from exchange_sim.engine.config import DEFAULT_BRACKETS
from exchange_sim.engine.margin import bracket_liquidation_price, maintenance_margin

ZERO = D(0)


def liquidated(wallet: D, amt: D, entry: D, mark: D) -> bool:
    """The engine's check (ledger.margin_states): margin balance <= maintenance margin."""
    balance = wallet + amt * (mark - entry)
    return balance <= maintenance_margin(DEFAULT_BRACKETS, abs(amt) * mark)


def test_a_long_in_tier_2_at_the_mark_is_liquidated_at_tier_1_s_price():
    """Long 1 at 60,000 (60,000 notional: tier 2), wallet 12,000. Tier 1: LP = (60,000 -
    12,000) / 0.996 = 48,192.77..; its notional is under 50,000, so tier 1 holds. Tier 2's
    (60,000 - 12,000 - 50) / 0.995 = 48,190.95.. would liquidate 1.8 USDT late: at 48,192.7
    the balance 192.7 is already under the maintenance 192.7708."""
    lp = bracket_liquidation_price(
        DEFAULT_BRACKETS, wallet=D(12000), other_mm=ZERO, other_upnl=ZERO, amt=D(1), entry=D(60000)
    )

    assert lp == D(48000) / D("0.996")
    assert D("48192.77") < lp < D("48192.78")
    assert liquidated(D(12000), D(1), D(60000), D("48192.7"))
    assert not liquidated(D(12000), D(1), D(60000), D("48192.8"))


def test_a_short_in_tier_1_at_the_mark_is_liquidated_at_tier_2_s_price():
    """Short 1 at 45,000 (tier 1), wallet 6,000. Tier 1: (45,000 + 6,000) / 1.004 =
    50,796.81.., a notional in tier 2; tier 2: (45,000 + 6,000 + 50) / 1.005 = 50,796.01..,
    inside tier 2: the price. At 50,796.1 the balance 203.9 is under 203.9805."""
    lp = bracket_liquidation_price(
        DEFAULT_BRACKETS,
        wallet=D(6000),
        other_mm=ZERO,
        other_upnl=ZERO,
        amt=D(-1),
        entry=D(45000),
    )

    assert lp == D(51050) / D("1.005")
    assert D("50796.01") < lp < D("50796.02")
    assert liquidated(D(6000), D(-1), D(45000), D("50796.1"))
    assert not liquidated(D(6000), D(-1), D(45000), D("50796.0"))


def test_a_long_that_no_price_liquidates_has_none():
    """Long 1 at 60,000 with 70,000 of wallet: every tier's price is below 0."""
    lp = bracket_liquidation_price(
        DEFAULT_BRACKETS, wallet=D(70000), other_mm=ZERO, other_upnl=ZERO, amt=D(1), entry=D(60000)
    )

    assert lp == ZERO
