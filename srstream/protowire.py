"""Protocol Buffers' wire format, read and written by hand for the one schema sr-stream meets
outside ONNX: TensorFlow's ``GraphDef`` (OpenCV dnn_superres's ``.pb`` models). The ``protobuf``
package reads a message only with its generated classes, which come with TensorFlow (hundreds of
megabytes) and not with onnx; the wire format itself is a page of code
(https://protobuf.dev/programming-guides/encoding/)."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["field", "fields", "values", "varints"]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def varints(buf: bytes) -> list[int]:
    """The values of a packed repeated varint field's payload."""
    out, i = [], 0
    while i < len(buf):
        value, i = _varint(buf, i)
        out.append(value)
    return out


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    out, n = bytearray(), len(payload)
    key = number << 3 | 2
    for v in (key, n):
        while v >= 0x80:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out) + payload


def values(buf: bytes) -> Iterator[tuple[int, int, int | bytes, bytes]]:
    """(field number, wire type, value, the field's raw bytes) in order: an int for a varint (wire
    type 0), the bytes of a fixed 64- or 32-bit value (1, 5) or of a length-delimited one (2).

    Raises:
        ValueError: not the wire format (a group, or a field running past the end).
    """
    i = 0
    while i < len(buf):
        start = i
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i:i + n], i + n
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if i > len(buf):
            raise ValueError("a protobuf field runs past the end of its message")
        yield key >> 3, wire, value, buf[start:i]


def fields(buf: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(field number, the field's raw bytes, payload of length-delimited fields) in order."""
    for number, wire, value, raw in values(buf):
        yield number, raw, value if wire == 2 else None
