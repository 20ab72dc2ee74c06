"""Wire conformance: one table of frames in and frames out (``wire.py``), run against our
relay and a real Gun.js relay (``test_wire_table.py``)."""
