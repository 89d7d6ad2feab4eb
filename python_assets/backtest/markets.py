"""What a symbol's market allows the engine: a perpetual swap trades both sides with leverage, funding and
liquidation; a spot market (the lake records it per symbol: python_assets/lake/sources.py) is bought and
sold only: held long, unlevered, with no funding and nothing to liquidate. Pure: the market kind comes in
as an argument ({symbol: 'spot' or 'perp'}, read by the callers' store layer); a symbol without one is a swap."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np

from python_assets.backtest.engine import Costs, Rules
from python_assets.backtest.reads import NO_FUNDING

PERP, SPOT = "perp", "spot"
SPOT_SHORT_ONLY = "short-only on a spot market (a spot market can only be held long)"


def market_of(markets: Mapping[str, str], symbol: str) -> str:
    """The market of a symbol: 'spot' where recorded so, else 'perp' (BloFin's swaps, the synthetic market)."""
    return SPOT if markets.get(symbol) == SPOT else PERP


def runs_on(side: str, market: str) -> bool:
    """Whether a strategy of `side` (long, short, both) has a side the market can trade: a short-only
    strategy has none on spot, so it is not run there (no flat curve stands in for a trade it cannot make)."""
    return market != SPOT or side != "short"


def market_terms(rules: Rules, costs: Costs, funding: tuple[np.ndarray, np.ndarray],
                 market: str) -> tuple[Rules, Costs, tuple[np.ndarray, np.ndarray]]:
    """The engine's rules, costs and funding on a market: unchanged (the same objects) on a swap; on spot the
    short side is dropped, the size is at most 1x equity (sizing.fraction above 1 is leverage), no funding is
    paid and there is no maintenance margin nor liquidation fee, so an unlevered long's liquidation price is
    <= 0 and never reached. The fees stay Costs' BloFin perpetual-swap taker/maker rates: the project has no
    spot fee schedule, so a spot backtest is charged the swap's fees."""
    if market != SPOT:
        return rules, costs, funding
    return (replace(rules, allow_short=False, fraction=min(rules.fraction, 1.0)),
            replace(costs, maintenance_margin=0.0, liquidation_fee=0.0), NO_FUNDING)
