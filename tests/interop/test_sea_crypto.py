"""gunrtc_kit.sea against live Gun.js SEA (npm gun 0.2020.1241, interop/gunjs_sea.js), both ways.

Made in Python, checked by Gun.js, and back: signatures (and a tampered copy failing on both
sides), ciphertexts (pair and passphrase), ECDH secrets, work proofs, and a Python-made
certificate carried by a write that a Gun.js peer stores (or refuses, with Gun's ``err``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gunrtc_kit.errors import SeaError
from gunrtc_kit.sea import certify, decrypt, encrypt, pair, sea_parse, secret, sign, verify, work
from tests.interop.gunjs import NodeProcess

pytestmark = [pytest.mark.asyncio, pytest.mark.interop]


class GunJsSea(NodeProcess):
    """interop/gunjs_sea.js: one SEA call per JSON line."""

    def __init__(self) -> None:
        super().__init__("gunjs_sea.js")
        self._n = 0

    async def call(self, cmd: str, **args: Any) -> Any:
        """The value Gun.js's SEA resolved to; None for ``undefined`` (a failed check)."""
        self._n += 1
        n = self._n
        await self.send({"id": n, "cmd": cmd, **args})
        e = await self.wait_event(lambda e: e.get("event") == "result" and e.get("id") == n, 20)
        assert "error" not in e, e
        return None if e["undefined"] else e["value"]


@pytest.fixture
async def js() -> AsyncIterator[GunJsSea]:
    proc = GunJsSea()
    await proc.start()
    try:
        await proc.wait_event(lambda e: e.get("event") == "ready", 20)
        yield proc
    finally:
        await proc.stop()


DATA: list[Any] = ["hello", "123", {"b": 1, "a": [1, 2.5, None], "10": "x"}, 1e21, None, "ü☃😀"]


async def test_signatures_both_ways(js: GunJsSea) -> None:
    ours, theirs = pair(), await js.call("pair")
    for data in DATA:
        signed = sign(data, ours)
        expect = sea_parse(data) if isinstance(data, str) else data
        assert await js.call("verify", data=signed, pub=ours["pub"]) == expect
        js_signed = await js.call("sign", data=data, pair=theirs)
        assert verify(js_signed, theirs["pub"]) == expect
        # a pair made on one side signs on the other
        assert verify(await js.call("sign", data=data, pair=ours), ours["pub"]) == expect
        assert await js.call("verify", data=sign(data, theirs), pub=theirs["pub"]) == expect
    tampered = sign({"amount": 1}, ours).replace('"amount":1', '"amount":9')
    assert await js.call("verify", data=tampered, pub=ours["pub"]) is None
    with pytest.raises(SeaError):
        verify(tampered, ours["pub"])
    js_tampered = (await js.call("sign", data={"amount": 1}, pair=theirs)).replace("1}", "9}")
    assert await js.call("verify", data=js_tampered, pub=theirs["pub"]) is None
    with pytest.raises(SeaError):
        verify(js_tampered, theirs["pub"])


async def test_encryption_both_ways(js: GunJsSea) -> None:
    ours = pair()
    for key in (ours, "a passphrase ☃"):
        for data in DATA:
            expect = sea_parse(data) if isinstance(data, str) else data
            assert await js.call("decrypt", data=encrypt(data, key), key=key) == expect
            assert decrypt(await js.call("encrypt", data=data, key=key), key) == expect
        assert await js.call("decrypt", data=encrypt("x", key), key="wrong") is None


async def test_secret_agrees_both_ways(js: GunJsSea) -> None:
    ours, theirs = pair(), await js.call("pair")
    shared = secret(theirs["epub"], ours)
    assert await js.call("secret", epub=ours["epub"], pair=theirs) == shared
    assert await js.call("secret", epub=theirs["epub"], pair=ours) == shared
    # and the shared key works as a passphrase across
    assert await js.call("decrypt", data=encrypt({"hi": 1}, shared), key=shared) == {"hi": 1}


async def test_work_agrees(js: GunJsSea) -> None:
    cases: list[tuple[Any, Any, dict[str, Any]]] = [
        ("password", "salt", {}),
        ({"z": 1, "a": 2}, "sält", {"iterations": 2000, "encode": "hex"}),
        ("pw", "s", {"iterations": 1000, "length": 256, "hash": "SHA-512"}),
        ("hello", None, {"name": "SHA-256"}),
        ({"x": [1, 2]}, None, {"name": "SHA-256", "encode": "hex"}),
    ]
    for data, salt, opt in cases:
        ours = work(data, salt, **opt)
        assert await js.call("work", data=data, salt=salt, opt=opt) == ours, (data, opt)


async def test_python_certificate_accepted_by_gunjs(js: GunJsSea) -> None:
    alice, bob, carol = pair(), pair(), pair()
    cert = certify(bob["pub"], {"#": {"*": "inbox"}}, alice)

    async def put(cert: str, who: dict[str, str], path: str, key: str) -> Any:
        value = f"v{time.monotonic_ns()}"
        return await js.call(
            "certput",
            cert=cert,
            certificant=who,
            authority_pub=alice["pub"],
            path=path,
            key=key,
            value=value,
            wait=100,
        )

    ok = await put(cert, bob, "inbox", "hello")
    assert ok == {"stored": True, "errs": []}
    assert (await put(cert, bob, "outbox", "hello"))["errs"] == ["Certificate verification fail."]
    assert (await put(cert, carol, "inbox", "hello"))["stored"] is False
    expired = certify("*", "inbox", alice, expiry=time.time() * 1000 - 60_000)
    assert (await put(expired, bob, "", "inbox"))["errs"] == ["Certificate expired."]
    # and Gun.js's own certificate is the same text as ours but for the signature
    js_cert = await js.call(
        "certify", certificants=bob["pub"], policy={"#": {"*": "inbox"}}, authority=alice
    )
    assert js_cert.rsplit(',"s":', 1)[0] == cert.rsplit(',"s":', 1)[0]
