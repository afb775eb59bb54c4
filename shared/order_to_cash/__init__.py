"""Quote-to-cash domain: the steps of the orchestration and how waits are correlated."""
