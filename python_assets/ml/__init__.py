"""ML: five models on warehouse features, purged walk-forward validation, versioned artifacts, ensembles."""
