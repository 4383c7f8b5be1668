"""Local development tools: the clients behind ``gethook listen``, ``tail`` and ``trigger``.

They talk to a running server over its public API only (never its database), so they work
against a local or a remote instance alike.
"""
