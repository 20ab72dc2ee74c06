"""Wire conformance: one table of frames in and frames out (``wire.py``), run against our
relay and a real Gun.js relay (``test_wire_table.py``); and one contract every mesh wire
passes, memory, websocket and data channel (``wires.py``, run by ``test_wires.py``)."""
