"""OSC out: bundle layout, scales, timetags, real UDP delivery, and send errors."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle

from encoder.descriptors import DESCRIPTORS, denormalise
from realtime.engine import Estimate
from realtime.osc_out import OscOut, build_bundle, check_prefix, parse_destination
from tests.osc_receiver import Receiver

VALUES = np.array([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])


def estimate(kind: str = "final", hit_id: int = 7, onset_wall: float | None = None) -> Estimate:
    return Estimate(kind, hit_id, 12.345, -6.25, VALUES, 0.5,
                    onset_wall if onset_wall is not None else time.time(), 0.0, 0.0)


def messages(dgram: bytes) -> tuple[OscBundle, list]:
    bundle = OscBundle(dgram)
    return bundle, [(m.address, list(m.params)) for m in bundle]


def test_final_bundle_holds_hit_timbre_and_each_descriptor_in_order():
    bundle, msgs = messages(build_bundle(estimate()))
    assert [a for a, _ in msgs] == ["/drumtimbre/hit", "/drumtimbre/timbre"] + [f"/drumtimbre/{n}" for n in DESCRIPTORS]
    hit_args = msgs[0][1]
    assert hit_args[0] == 7 and isinstance(hit_args[0], int)
    assert hit_args[1] == pytest.approx(12.345, abs=1e-4) and hit_args[2] == pytest.approx(-6.25)
    timbre = msgs[1][1]
    assert timbre[0] == 7 and np.allclose(timbre[1:], VALUES, atol=1e-6)
    for (_, args), v in zip(msgs[2:], VALUES):
        assert args == [pytest.approx(v, abs=1e-6)]
    assert bundle.timestamp == 0 or bundle.timestamp < 1e-6  # immediate


def test_early_bundle_uses_early_addresses_and_custom_prefix():
    _, msgs = messages(build_bundle(estimate("early"), prefix="/kit/snare"))
    assert [a for a, _ in msgs][:2] == ["/kit/snare/early/hit", "/kit/snare/early/timbre"]
    assert msgs[-1][0] == "/kit/snare/early/boominess"


def test_audiocommons_scale_sends_points():
    _, msgs = messages(build_bundle(estimate(), scale="audiocommons"))
    points = np.clip(denormalise(VALUES), 0, 100)
    assert np.allclose(msgs[1][1][1:], points, atol=1e-3)
    assert max(msgs[1][1][1:]) > 1.5  # really points, not 0-1


def test_scale_values_clip_to_each_scale():
    """Model outputs outside 0-1 are clipped to 0-1 ('unit'), or mapped to points and clipped to 0-100."""
    from realtime.osc_out import scale_values

    v = np.array([-0.2, 0.5, 1.3, 0.0, 1.0, -1.0, 2.0])
    assert scale_values(v, "unit") == [0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 1.0]
    # hardness -0.2 -> -2.62 points -> 0; depth 0.5 -> 50.07; brightness 1.3 -> 106.3 -> 100 (not 84.31, the
    # range's top); roughness 0 -> 0; warmth 1 -> 78.87; sharpness -1 -> -92.6 -> 0; boominess 2 -> 143 -> 100
    assert scale_values(v, "audiocommons") == pytest.approx([0.0, 50.07049, 100.0, 0.0, 78.870422, 0.0, 100.0],
                                                            abs=1e-5)
    with pytest.raises(ValueError, match="scale"):
        scale_values(v, "percent")


def test_onset_timetag_stamps_the_onset_wall_clock_time():
    wall = time.time() - 0.0125
    bundle, _ = messages(build_bundle(estimate(onset_wall=wall), timetag="onset"))
    assert bundle.timestamp == pytest.approx(wall, abs=1e-3)


def _built_by_python_osc(est: Estimate, prefix: str, scale: str, timetag: str) -> bytes:
    """The same bundle through python-osc's message and bundle builders."""
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    from realtime.osc_out import scale_values

    base = prefix + ("/early" if est.kind == "early" else "")
    values = scale_values(est.values, scale)
    bundle = OscBundleBuilder(est.onset_wall if timetag == "onset" else IMMEDIATELY)
    for address, args in [("hit", [est.hit_id, est.onset_s, est.peak_dbfs]), ("timbre", [est.hit_id, *values])] + \
            [(name, [v]) for name, v in zip(DESCRIPTORS, values)]:
        m = OscMessageBuilder(f"{base}/{address}")
        for a in args:
            m.add_arg(a, "i" if isinstance(a, int) else "f")
        bundle.add_content(m.build())
    return bundle.build().dgram


@pytest.mark.parametrize("kind,prefix,scale,timetag", [("final", "/drumtimbre", "unit", "immediate"),
                                                       ("early", "/kit/snare", "audiocommons", "onset")])
def test_bundle_bytes_are_python_osc_builders_bytes(kind, prefix, scale, timetag):
    est = estimate(kind, onset_wall=time.time() - 0.5)
    assert build_bundle(est, prefix, scale, timetag) == _built_by_python_osc(est, prefix, scale, timetag)


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:", ":9000", "127.0.0.1:port", "127.0.0.1:70000",
                                  "2001:db8::1", "::1", "fe80::1:9000", "[::1:9000", "[::1]", "[::1]9000", "[]:9000"])
def test_bad_destination_is_refused_with_its_text(text):
    with pytest.raises(ValueError, match="OSC destination"):
        parse_destination(text)


def test_destination_forms():
    assert str(parse_destination("127.0.0.1:9000")) == "127.0.0.1:9000"
    assert parse_destination("[::1]:57120").host == "::1"
    assert str(parse_destination("[::1]:57120")) == "[::1]:57120"  # printed as it is written, unambiguous
    with pytest.raises(ValueError, match="prefix"):
        check_prefix("drumtimbre")
    assert check_prefix("/drumtimbre/") == "/drumtimbre"
    assert check_prefix("/kit/snare") == "/kit/snare"
    for bad in ("/", "//drum", "/a//b", "/drum\ttimbre", "/drüm", "/a b", "/a*"):  # '//' is OSC 1.1's wildcard
        with pytest.raises(ValueError, match=re.escape(f"prefix {bad!r}")):  # named as given
            check_prefix(bad)
    with pytest.raises(ValueError, match="in brackets"):  # a bare IPv6 address was split at its last colon
        parse_destination("2001:db8::1")


def test_every_destination_receives_every_bundle():
    a, b = Receiver(), Receiver()
    try:
        out = OscOut([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
        for i in range(5):
            out(estimate("early", i))
            out(estimate("final", i))
        a.wait(90), b.wait(90)
        for r in (a, b):
            assert len(r.got) == 5 * 2 * 9
            timbres = [args for addr, args in r.got if addr == "/drumtimbre/timbre"]
            assert [t[0] for t in timbres] == list(range(5))
            assert len([1 for addr, _ in r.got if addr == "/drumtimbre/early/timbre"]) == 5
        assert out.sent == 20 and out.errors == 0
    finally:
        a.close(), b.close()


def test_one_address_named_twice_gets_each_bundle_once():
    """`--osc 127.0.0.1:P --osc 127.0.0.1:0P --osc 127.0.0.1:P` (or a host name and its address): three triggers a
    hit at the synth before; now each bundle goes there once, and the repeats are named."""
    r = Receiver()
    reports: list[str] = []
    try:
        out = OscOut([f"127.0.0.1:{r.port}", f"127.0.0.1:0{r.port}", f"127.0.0.1:{r.port}"], report=reports.append)
        for i in range(4):
            out(estimate("final", i))
        r.wait(36)
        time.sleep(0.2)  # (room for any duplicate to arrive)
        assert [args[0] for addr, args in r.got if addr == "/drumtimbre/timbre"] == [0, 1, 2, 3]
        assert [str(d) for d in out.destinations] == [f"127.0.0.1:{r.port}"] and out.sent == 4
        assert len(reports) == 2 and all(f"the same address as 127.0.0.1:{r.port}" in t for t in reports), reports
    finally:
        r.close()


def test_send_errors_are_reported_once_and_never_stop_other_destinations():
    r = Receiver()
    reports: list[str] = []
    try:
        # unresolvable host, broadcast address without SO_BROADCAST (sendto raises), a closed port
        out = OscOut(["no-such-host.invalid:9000", "255.255.255.255:9", "127.0.0.1:1", f"127.0.0.1:{r.port}"],
                     report=reports.append)
        for i in range(10):
            out(estimate("final", i))
        r.wait(90)
        assert len([1 for addr, _ in r.got if addr == "/drumtimbre/timbre"]) == 10
        # each bad destination once: a port nobody listens on too (the kernel's "port unreachable" comes back on
        # the connected socket's next send)
        assert len(reports) == 3, reports
        assert "no-such-host.invalid:9000" in reports[0] and "255.255.255.255:9" in reports[1]
        assert "127.0.0.1:1:" in reports[2] and "refused" in reports[2].lower()
        assert out.errors >= 20 + 1
    finally:
        r.close()


def test_a_receiver_that_starts_late_gets_the_bundles_after_it_starts():
    probe = Receiver()  # a free port: closed again, so that nobody listens on it for a while
    port = probe.port
    probe.close()
    reports: list[str] = []
    out = OscOut([f"127.0.0.1:{port}"], report=reports.append)
    for i in range(4):
        out(estimate("final", i))
        time.sleep(0.01)
    assert len(reports) == 1 and "refused" in reports[0].lower()
    r = Receiver(port)
    try:
        for i in range(4, 8):
            out(estimate("final", i))
        r.wait(4 * 9, timeout=1.0)
        got = [args[0] for addr, args in r.got if addr == "/drumtimbre/timbre"]
        # the first may meet the refusal of the last one sent before the receiver started
        assert got in ([4, 5, 6, 7], [5, 6, 7]), got
        assert len(reports) == 1
    finally:
        r.close(), out.close()


def test_bad_scale_or_timetag_is_refused():
    with pytest.raises(ValueError, match="scale"):
        OscOut(["127.0.0.1:9000"], scale="percent")
    with pytest.raises(ValueError, match="timetag"):
        OscOut(["127.0.0.1:9000"], timetag="later")
