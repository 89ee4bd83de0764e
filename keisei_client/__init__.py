"""A command-line client for a Keisei Site portal: its REST API and its live WebSocket.

``keisei login http://127.0.0.1:8000``, then ``keisei submit --trainer digits --set epochs=20
--watch`` (or ``python -m keisei_client``). It needs neither Django, the engine nor torch:
httpx, websockets, click, rich and ``keisei_fields``. See docs/cli.md.
"""
