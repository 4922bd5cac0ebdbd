"""The faces of tfa-engine: the Falcon HTTP app, the WSGI middleware and the ``tfa`` command.

Adapters translate; the engine decides. Nothing here judges a request: it turns HTTP
(or a command line) into engine calls and engine outcomes back into HTTP.
"""
