"""The privileged broker of a shared server: the one process that holds the engine and runs no
user code, serving each OS user over a Unix socket that names its caller by the kernel's peer
credentials: ``identity`` (who is calling: peer credentials, the admin group, refusing the
overflow uid), ``auth`` (that identity and an authorizer, as jupyter_server asks for them) and
``server`` (the jupyter_server that serves the launcher's REST API alone). Policy per group and
the extension's client come next.

May import: ``errors``, ``api.handlers`` (the launcher's authorizer resource) and jupyter_server.
"""
