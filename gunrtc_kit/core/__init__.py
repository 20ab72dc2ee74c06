"""The sans-I/O core of Gun: ids, machine-clock states, HAM, the graph, dedup and the codec.

Nothing in here imports asyncio, opens a socket or reads a clock: time comes in as a function
or a number, so every rule can be tested to the millisecond.
"""
