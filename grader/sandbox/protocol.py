"""The wire protocol between the grader and its sandboxed child, both sides in one place.

Frames, both directions: an 8-byte big-endian length, then that many bytes.
- request (grader -> child): JSON ``{"id", "probe", "options", "arrays": [names], "cpu_seconds",
  "max_elements"}``, then one ``.npy`` frame per name (``encode_request``; the child:
  ``read_request``);
- answer (child -> grader): JSON ``{"id", "status": "ok", "types": {key: description},
  "arrays": [keys]}``, then one ``.npy`` frame per key in ``arrays`` (``ok_answer``); or JSON
  ``{"id", "status": "error", "where", "type", "not_implemented", "message", "detail",
  "traceback"}`` alone (``error_answer``); both sent with ``send``;
- the first frame the child sends, once it is ready: ``{"hello": 1, "pid", "uid"}``.
The grader reads answers with ``Reader`` and ``load_npy``: every size is checked before
anything is allocated, ``.npy`` bytes are parsed without pickle into exact ``np.ndarray`` of a
numeric dtype, and anything else is ``BadOutput`` (that request's ``bad-output``). Student code
runs in the child's process and may rewrite the child's half of this module: the grader's half
trusts nothing it reads.

This module runs on both sides: in the grader as ``grader.sandbox.protocol``, and in the child,
which runs inside the sandbox as a plain script beside it (``python -s child.py``; the grader
package is not there). So it imports only the standard library at module level: the child
imports it before its resource limits are set, and imports numpy itself after them.
Not this module's job: starting, watching or killing the child (``grader.sandbox.process``, ``running``).
"""
import io
import json
import math
import os
import struct

FRAME = struct.Struct(">Q")  # the length prefix of every frame
MAX_HEADER_BYTES = 1 << 20
MAX_ARRAYS = 4096


# --- the grader's side --------------------------------------------------------------------------

def encode_request(rid: int, probe: str, arrays: dict, options: dict, cpu_seconds: float | None,
                   max_elements: int | None) -> list[bytes | memoryview]:
    """The chunks of one request, to be written in order."""
    import numpy as np

    header = {"id": rid, "probe": probe, "options": options, "arrays": list(arrays),
              "cpu_seconds": cpu_seconds, "max_elements": max_elements}
    text = json.dumps(header).encode()
    chunks: list[bytes | memoryview] = [FRAME.pack(len(text)), text]  # a .npy's buffer is sent uncopied
    for value in arrays.values():
        blob = io.BytesIO()
        np.lib.format.write_array(blob, np.asarray(value), allow_pickle=False)
        chunks += [FRAME.pack(blob.tell()), blob.getbuffer()]
    return chunks


class BadOutput(Exception):
    """The child sent something the protocol does not allow."""


class Reader:
    """Collects one answer's frames (a JSON header, then its arrays), checking every size first.

    ``rid`` None reads the hello instead of an answer. Fed with ``feed`` as bytes arrive; ``done``
    once the whole answer is there; ``BadOutput`` as soon as something is wrong.
    """

    def __init__(self, max_frame: int, max_total: int, rid, max_elements: int | None = None):
        self.max_frame, self.max_total, self.rid, self.max_elements = max_frame, max_total, rid, max_elements
        self.buffer = bytearray()
        self.total = 0
        self.header: dict | None = None     # the hello, or an answer's checked header
        self.error: dict[str, str | bool] | None = None  # an error answer's ``lab2check.result.ERROR_KEYS``
        self.frames: list[bytes] = []
        self.expected = 0

    @property
    def done(self) -> bool:
        return self.header is not None and len(self.frames) == self.expected

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.max_total + MAX_HEADER_BYTES:
            raise BadOutput(f"the child's answer is larger than {self.max_total / 2**20:.3g} MB")
        self.buffer += data
        while not self.done and len(self.buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(self.buffer)
            limit = MAX_HEADER_BYTES if self.header is None else self.max_frame + 4096  # .npy header
            if size > limit:
                raise BadOutput(f"the child sent a frame of {size} bytes, over the limit of {limit} bytes")
            if len(self.buffer) < FRAME.size + size:
                return
            body = bytes(self.buffer[FRAME.size:FRAME.size + size])
            del self.buffer[:FRAME.size + size]
            if self.header is None:
                self._read_header(body)
            else:
                self.frames.append(body)
        if self.done and self.buffer:
            raise BadOutput("the child sent more than its answer")

    def arrays(self) -> dict:
        """``{key: np.ndarray}`` of a complete ``ok`` answer (``BadOutput`` for an invalid array)."""
        assert self.header is not None, "arrays() of an answer not yet read"  # the caller waits for ``done``
        return {name: load_npy(blob, self.max_elements) for name, blob in zip(self.header["arrays"], self.frames)}

    def _read_header(self, body: bytes) -> None:
        try:
            self._parse_header(body)
        except BadOutput:
            raise
        except Exception as err:  # noqa: BLE001 - any malformed header costs its request only
            raise BadOutput(f"the child's answer is malformed ({type(err).__name__})") from None

    def _parse_header(self, body: bytes) -> None:
        try:
            header = json.loads(body)
        except (ValueError, RecursionError):
            raise BadOutput("the child's answer is not valid JSON") from None
        if not isinstance(header, dict):
            raise BadOutput("the child's answer is not a JSON object")
        if self.rid is None:
            if header.get("hello") != 1:
                raise BadOutput("the child did not say hello")
            self.header = header
            return
        if header.get("id") != self.rid:
            raise BadOutput(f"the child answered request {header.get('id')!r} instead of {self.rid}")
        status = header.get("status")
        if status == "error":
            error: dict[str, str | bool] = {key: _text(header.get(key), 2000)
                                            for key in ("where", "type", "message", "detail")}
            error["traceback"] = _text(header.get("traceback"), 4000)
            error["not_implemented"] = header.get("not_implemented") is True
            self.error = error
            self.header = {"status": "error"}
            return
        types, names = header.get("types"), header.get("arrays")
        if status != "ok" or not isinstance(types, dict) or not isinstance(names, list):
            raise BadOutput("the child's answer has no valid status, types and arrays")
        if len(types) > MAX_ARRAYS or not all(isinstance(k, str) and isinstance(v, str) for k, v in types.items()):
            raise BadOutput("the child's answer has invalid type descriptions")
        if not all(isinstance(n, str) and n in types for n in names) or len(set(names)) != len(names):
            raise BadOutput("the child's answer lists arrays it does not describe")
        self.header = {"status": "ok", "types": {_text(k, 200): _text(v, 200) for k, v in types.items()},
                       "arrays": [_text(n, 200) for n in names]}
        self.expected = len(names)


def load_npy(blob: bytes, max_elements: int | None = None):
    """A plain numeric ndarray from ``.npy`` bytes, checked before anything is allocated:
    at most 32 dimensions and ``max_elements`` elements, and exactly the bytes they need."""
    import numpy as np

    from lab2check.plain import NUMERIC_KINDS

    fmt = np.lib.format
    stream = io.BytesIO(blob)
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as err:  # noqa: BLE001 - the header is the child's: any failure is its bad output
        raise BadOutput(f"the child sent an invalid array: {type(err).__name__}") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise BadOutput(f"the child sent an array of dtype {dtype}, not a plain numeric one")
    if not (isinstance(shape, tuple) and len(shape) <= 32 and all(type(n) is int and n >= 0 for n in shape)):
        raise BadOutput("the child sent an array with an invalid shape")
    count, offset = math.prod(shape), stream.tell()
    if max_elements is not None and count > max_elements:
        raise BadOutput(f"the child sent an array of {count} elements, over the limit of {max_elements}")
    # An empty array may still declare a dimension numpy cannot index ((0, 2**70)): the product
    # of its non-zero dimensions is bounded like a count, so that no shape overflows numpy's sizes.
    bound = max_elements if max_elements is not None else len(blob)
    if math.prod(n for n in shape if n) > max(bound, 1):
        raise BadOutput(f"the child sent an array of shape {_shown(shape)}, a dimension over the limit")
    if count * dtype.itemsize != len(blob) - offset:
        raise BadOutput(f"the child sent an array of shape {_shown(shape)} with {len(blob) - offset} bytes of data")
    try:
        array = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
        array = array.reshape(shape, order="F" if fortran else "C")
        return array.astype(dtype.newbyteorder("="), order="C", copy=True)
    except Exception as err:  # noqa: BLE001 - whatever numpy refuses is the child's bad output
        raise BadOutput(f"the child sent an array numpy cannot build: {type(err).__name__}") from None


def _shown(shape: tuple) -> str:
    """A shape for a message, bounded (32 dimensions of 2**64 would be a 600-character line)."""
    text = str(shape)
    return text if len(text) <= 120 else text[:117] + "..."


def _text(value, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "replace").decode("utf-8")[:limit]


# --- the child's side -----------------------------------------------------------------------------

def read_request(fd: int):
    """``(request, {name: .npy bytes})``, or None when the grader closed the pipe.

    ``EOFError`` when the pipe ends in the middle of a request (the grader went away).
    """
    head = read_frame(fd)
    if head is None:
        return None
    request = json.loads(head)
    frames = {}
    for name in request["arrays"]:
        frames[name] = read_frame(fd)
        if frames[name] is None:
            raise EOFError("the request pipe ended in the middle of a request")
    return request, frames


def read_frame(fd: int):
    """The next frame's bytes, or None at the end of the stream (``EOFError`` inside a frame)."""
    head = _read_exact(fd, FRAME.size)
    if head is None:
        return None
    body = _read_exact(fd, FRAME.unpack(head)[0])
    if body is None:
        raise EOFError("the pipe ended in the middle of a frame")
    return body


def _read_exact(fd: int, n: int):
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def hello(pid: int, uid: int) -> dict:
    return {"hello": 1, "pid": pid, "uid": uid}


def ok_answer(rid, types: dict, names: list) -> dict:
    """The header of an ``ok`` answer; the ``.npy`` blobs of ``names`` follow it, in order."""
    return {"id": rid, "status": "ok", "types": types, "arrays": names}


def error_answer(rid, error: dict) -> dict:
    """The header of an ``error`` answer; ``error`` has ``lab2check.result.ERROR_KEYS``."""
    return {"id": rid, "status": "error", **error}


def send(fd: int, header: dict, blobs) -> None:
    """Write one answer: its JSON header, then each blob, each as a frame (blocking)."""
    # json.dumps looked up at each call: student code that patches it corrupts only its answer,
    # which the grader's Reader refuses (tests/test_sandbox.py: a patched protocol).
    text = json.dumps(header).encode()
    parts = [FRAME.pack(len(text)), text]
    for blob in blobs:
        parts += [FRAME.pack(len(blob)), blob]
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]
