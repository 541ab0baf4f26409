"""The privileged broker of a shared server: the one process that holds the engine and runs no
user code, serving each OS user over a Unix socket that names its caller by the kernel's peer
credentials. So far ``identity`` (who is calling: peer credentials, the admin group, refusing the
overflow uid); the server, policy and the extension's client come next.

May import: ``errors``; and, for the server, what the extension's own REST API imports.
"""
