"""Dagster definitions of blofin-stack.

Beta/preview/supersession notices about Dagster APIs chosen on purpose (pools, backfill policies,
dagster-dbt options) are raised while the asset modules load: they are kept off the console of
`make ui` and the CLI here, before any of those modules is imported."""

import warnings

from dagster_shared.utils.warnings import BetaWarning, PreviewWarning, SupersessionWarning

for _category in (BetaWarning, PreviewWarning, SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)
