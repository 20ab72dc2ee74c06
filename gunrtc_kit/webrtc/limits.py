"""The WebRTC manager's bounds and lifetimes, in one module its collaborators all read.

Why apart: the manager and its parts (discovery, held candidates, the link table) read these
when they run, so a test can shorten a lifetime or lower a bound by setting it here, and no
part needs to import the manager to find them.
"""

from __future__ import annotations

__all__ = [
    "ANNOUNCED_MAX",
    "ANNOUNCE_LIFE",
    "HELD_BYTES_MAX",
    "HELD_CANDIDATES_LIFE",
    "HELD_CANDIDATES_MAX",
    "HELD_PIDS_MAX",
    "LINK_CANDIDATES_MAX",
    "MAX_CANDIDATE_CHARS",
    "PENDING_PER_SOURCE",
    "PENDING_TIMEOUT",
    "ROUTE_LIFE",
    "SWEEP_EVERY",
    "UNANSWERED_LIFE",
]

PENDING_TIMEOUT = 60.0  # gun webrtc.js forgets a link that has not opened after 60 s
# pending links whose signalling came through one mesh peer (a relay connection): a flood of
# made-up announcements or offers through one relay takes at most this many slots, the oldest
# unanswered one making room for the newest, and links from other peers keep theirs
PENDING_PER_SOURCE = 16
UNANSWERED_LIFE = 10.0  # an offer of ours with no answer by then is dropped (made-up pids)
HELD_CANDIDATES_LIFE = 10.0
HELD_CANDIDATES_MAX = 64  # per pid we have no link with
HELD_PIDS_MAX = 32  # pids we hold early candidates for
HELD_BYTES_MAX = 64 * 1024  # all held early candidates together
LINK_CANDIDATES_MAX = 64  # remote candidates one link takes (aioice pairs each with ours)
MAX_CANDIDATE_CHARS = 1024  # a real candidate line is ~100-200 characters
ANNOUNCED_MAX = 256  # announcements remembered for initiate_connection
ROUTE_LIFE = 9.0  # a relay keeps a reply route ~9 s (dedup age)
ANNOUNCE_LIFE = 3600.0  # how long we keep listening for replies to our announcement
SWEEP_EVERY = 2.0  # how often expired announcements and held candidates are forgotten
