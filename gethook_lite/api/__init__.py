"""The HTTP layer: thin Litestar controllers that parse, call the domain and shape answers."""
