"""SEA (Security, Encryption, Authorization), byte-compatible with Gun.js's ``sea.js``.

Why here, and why synchronous: a user's graph (``~pub``), content-addressed souls (``#``) and
private data all rest on SEA texts that Gun.js peers make and check, so ours must produce and
accept the very same bytes (npm ``gun@0.2020.1241`` is the reference, proven by
``tests/unit/sea_vectors.json`` and the interop tests). SEA is asynchronous in JavaScript only
because WebCrypto is; here every function is plain and pure on the ``cryptography`` package,
callable from the sans-I/O write checks and from any thread. No primitive is written by hand.

Every bad input (malformed ``SEA{``, a wrong key, bad base64, a wrong passphrase, a signature
that does not match) raises ``gunrtc_kit.errors.SeaError``, where Gun.js resolves
``undefined``. Each module's docstring lists the Gun.js facts it follows (with ``sea.js`` line
numbers) and where it is stricter on purpose.
"""

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea.certify import certify, check_certificate, text_match
from gunrtc_kit.sea.cipher import decrypt, encrypt, secret
from gunrtc_kit.sea.encoding import is_sea, pub_of_soul, sea_parse
from gunrtc_kit.sea.keys import Pair, PairLike, pair
from gunrtc_kit.sea.sign import sign, verify
from gunrtc_kit.sea.work import work

__all__ = [
    "Pair",
    "PairLike",
    "SeaError",
    "certify",
    "check_certificate",
    "decrypt",
    "encrypt",
    "is_sea",
    "pair",
    "pub_of_soul",
    "sea_parse",
    "secret",
    "sign",
    "text_match",
    "verify",
    "work",
]
