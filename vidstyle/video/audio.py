"""The input's audio (and subtitles) copied into an output, cut to the rendered range.

Packets are copied byte for byte; only a codec the output container cannot
hold is re-encoded (with a warning). Used by the writer for every render and
by the farm when it joins chunks, so the audio of an assembled file is the
audio of a single run.
"""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av

from .codecs import COPYABLE_AUDIO, REENCODE_AUDIO
from .probe import VideoInfo, open_input
from .ranges import FrameRange

__all__ = ["AudioPassthrough"]


class AudioPassthrough:
    """Copies the input's audio (and subtitle) packets into the output, cut to the range.

    A second demuxer on the input reads those streams lazily, so packets are
    muxed in step with the video and memory stays flat. Packets are copied
    byte for byte; only a codec the container cannot hold is re-encoded.
    """

    _LOOKAHEAD = Fraction(1, 2)  # seconds of audio kept ahead of the video

    def __init__(
        self,
        like: VideoInfo,
        out: av.container.OutputContainer,
        rng: FrameRange,
        fmt: str,
        warnings: list[str],
    ) -> None:
        self._in = open_input(like.path)
        self._out = out
        self._t0 = None if rng.whole else rng.start_seconds
        self._t1 = None if rng.whole else rng.stop_seconds
        self._routes: dict[int, tuple[av.stream.Stream, av.codec.context.CodecContext | None]] = {}
        supported = out.supported_codecs
        copyable = COPYABLE_AUDIO[fmt]
        for s in self._in.streams:
            if s.type == "audio":
                name = s.codec_context.name
                if name in supported and (copyable is None or name in copyable):
                    self._routes[s.index] = (out.add_stream_from_template(s), None)
                else:
                    target = REENCODE_AUDIO[fmt]
                    ctx = s.codec_context
                    layout = ctx.layout.name
                    if layout.endswith("channels"):  # unordered ("2 channels"): encoders want a named layout
                        layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(ctx.channels, layout)
                    o = out.add_stream(target, rate=ctx.sample_rate, layout=layout)
                    # The encoder's own first sample format (AAC wants fltp); frames are converted to it.
                    o.codec_context.format = av.Codec(target, "w").audio_formats[0]
                    if s.language:
                        o.metadata["language"] = s.language
                    self._routes[s.index] = (o, ctx)
                    warnings.append(
                        f"audio stream #{s.index} ({name}) cannot go into {fmt}: re-encoded as {target}"
                    )
            elif s.type in ("subtitle", "data"):
                name = s.codec_context.name if s.codec_context is not None else None
                if s.type == "subtitle" and name and name in supported and (
                    fmt == "matroska" or name == "mov_text" or (fmt == "webm" and name == "webvtt")
                ):
                    self._routes[s.index] = (out.add_stream_from_template(s), None)
                else:
                    warnings.append(f"{s.type} stream #{s.index} ({name or 'unknown'}) dropped: {fmt} cannot hold it")
        if not self._routes:
            self._packets: Iterator[av.Packet] = iter(())
        else:
            selected = [self._in.streams[i] for i in self._routes]
            if self._t0 is not None and self._t0 > 0:
                # Seek all streams to just before the range; earlier packets are skipped below.
                self._in.seek(int(self._t0 * av.time_base), backward=True)
            self._packets = self._in.demux(selected)
        self._pending: av.Packet | None = None
        self._done = not self._routes

    def pump(self, until: Fraction | None) -> None:
        """Mux packets up to ``until`` seconds of output time (None: all that remain)."""
        while not self._done:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._flush_encoders()
                self._done = True
                return
            if packet.size == 0:  # end-of-stream marker from the demuxer
                continue
            if packet.pts is None or packet.time_base is None:
                continue
            t = Fraction(packet.pts) * packet.time_base
            if self._t0 is not None and t < self._t0:
                continue
            if self._t1 is not None and t >= self._t1:
                if t >= self._t1 + 10:  # well past the range in every interleaving
                    self._flush_encoders()
                    self._done = True
                    return
                continue
            out_t = t - (self._t0 or 0)
            if until is not None and out_t > until + self._LOOKAHEAD:
                self._pending = packet
                return
            self._route(packet)

    def _route(self, packet: av.Packet) -> None:
        stream, decoder = self._routes[packet.stream_index]
        shift = 0 if self._t0 is None else round(self._t0 / packet.time_base)
        if decoder is None:
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = stream
            self._out.mux(packet)
            return
        for frame in decoder.decode(packet):
            if frame.pts is not None:
                frame.pts -= shift
            self._out.mux(stream.encode(frame))

    def _flush_encoders(self) -> None:
        for stream, decoder in self._routes.values():
            if decoder is not None:
                for frame in decoder.decode(None):
                    self._out.mux(stream.encode(frame))
                self._out.mux(stream.encode(None))

    def close(self) -> None:
        self._in.close()
