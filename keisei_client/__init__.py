"""A command-line client for a Keisei Site portal: its REST API and its live WebSocket.

``keisei-client queue --trainer digits --set epochs=20 --watch`` (or ``python -m
keisei_client``). It needs neither the engine nor torch: the standard library and
``websockets``.
"""
