"""Where builds happen: the `Backend` protocol, the buildx adapter and a recording fake."""
