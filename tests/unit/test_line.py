"""What a line holds for a call is bounded: a stalled call or a flood of audio drops the
oldest audio, never a key or a hang-up."""

from __future__ import annotations

from voice.line import MAX_QUEUED_FRAMES, AudioFrame, Dtmf, Hangup, Inbound


def frame(n: int) -> AudioFrame:
    return AudioFrame(n.to_bytes(4, "big"))


async def test_the_oldest_audio_is_dropped_past_the_bound_and_keys_are_kept() -> None:
    inbound = Inbound(max_frames=5)
    inbound.put_nowait(frame(0))
    inbound.put_nowait(Dtmf("0"))
    for n in range(1, 9):
        inbound.put_nowait(frame(n))
    inbound.put_nowait(Hangup())
    events = [inbound.get_nowait() for _ in range(inbound.qsize())]
    assert events == [Dtmf("0"), *[frame(n) for n in range(4, 9)], Hangup()]
    assert inbound.dropped_frames == 4


async def test_a_line_holds_at_most_a_minute_of_audio() -> None:
    inbound = Inbound()
    for n in range(MAX_QUEUED_FRAMES + 100):
        inbound.put_nowait(frame(n))
    assert inbound.qsize() == MAX_QUEUED_FRAMES == 3000  # 60 s of 20 ms frames
    inbound.get_nowait()
    inbound.put_nowait(frame(1))  # room again after the call read one
    assert inbound.qsize() == MAX_QUEUED_FRAMES and inbound.dropped_frames == 100
