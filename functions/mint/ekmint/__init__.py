"""ekmint: what runs in Lambda. Nothing here imports ekmint_dev."""
