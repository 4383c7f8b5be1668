"""Domain logic: what the API's operations mean, independent of HTTP."""
