"""Everything the guest sends to the host, and how it is encoded.

Text leaves the guest as UTF-8 bytes. A Python `str` may hold lone surrogates
(`json.loads('"\\udcff"')` of an untrusted context makes one); they are
encoded with `surrogatepass`, and the host decodes leniently, so no string on
any path can trap the guest. JSON is made by a C encoder built once here,
which later patches of the `json` module cannot reach.
"""

import _json
import _random
import io
import random
import sys

from componentize_py_types import Err
from wit_world.imports import host

STDOUT = host.OutputStream.STDOUT
STDERR = host.OutputStream.STDERR
Report = host.ReportKind

_CallErrorLimit = host.CallError_LimitReached
_CallErrorDeadline = host.CallError_Deadline


class SandboxLimitError(BaseException):
    """A sandbox limit ended the cell. A `BaseException`, so that a plain
    `except Exception` in model code does not swallow it."""


class OutputLimitExceeded(SandboxLimitError):
    """The cell wrote more than the output cap."""


class HostCallLimitExceeded(SandboxLimitError):
    """The cell made more host calls than allowed."""


class CellTimeout(SandboxLimitError):
    """The cell's wall-clock deadline passed while it was waiting."""


class ValueTooLarge(ValueError):
    """The host refused a value: over the size cap, or not representable."""


# Shown in tracebacks without the driver's module name.
for _cls in (SandboxLimitError, OutputLimitExceeded, HostCallLimitExceeded, CellTimeout, ValueTooLarge):
    _cls.__module__ = "builtins"


def encode(text):
    return text.encode("utf-8", "surrogatepass")


def report(kind, text):
    host.report(kind, encode(text))


# --- JSON ---------------------------------------------------------------------


class NotRepresentable(TypeError):
    """A value JSON cannot hold faithfully."""


def _default(value):
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    raise NotRepresentable(
        f"a value of type {type(value).__name__} cannot be represented as JSON; "
        "convert it first (for example with str(), list() or dict())"
    )


# Taken now, before model code runs: a later `_json.make_encoder = ...` or
# `json.decoder.JSONDecoder.raw_decode = ...` in a cell does not reach them.
_c_make_encoder = _json.make_encoder
_c_make_scanner = _json.make_scanner
_encode_basestring = _json.encode_basestring


def to_json(value, _make=_c_make_encoder, _strings=_encode_basestring, _default=_default, _type=type):
    """`value` as JSON text. Raises `NotRepresentable` (a `TypeError`) or
    `ValueError` for what JSON cannot hold: other types, NaN, integers too
    long to print, circular references."""
    # The arguments of json.encoder.c_make_encoder: markers (circular-reference
    # check), default, string encoder, indent, key and item separators,
    # sort_keys, skipkeys, allow_nan.
    if _type(value) is str:
        # What the encoder below does with a `str`, without making one
        # (~12k wasm instructions): the answer of many a sub-RLM.
        return _strings(value)
    encoder = _make({}, _default, _strings, None, ": ", ", ", False, False, False)
    try:
        chunks = encoder(value, 0)
    except RecursionError:
        raise ValueError("the value nests too deeply to be represented as JSON") from None
    return "".join(chunks)


def _build_loads():
    import json.decoder

    # The C scanner copies its settings (hooks, number parsers) from the
    # decoder when made, so it never looks them up again.
    scan = _c_make_scanner(json.decoder.JSONDecoder())
    skip = json.decoder.WHITESPACE.match

    def from_json(text, _scan=scan, _skip=skip, _len=len):
        """The value of JSON `text` (from the host: always valid JSON)."""
        try:
            value, end = _scan(text, _skip(text, 0).end())
        except StopIteration:
            raise ValueError("the host sent text that is not JSON") from None
        if _skip(text, end).end() != _len(text):
            raise ValueError("the host sent text that is not JSON")
        return value

    return from_json


from_json = _build_loads()


# --- text the host writes in place ------------------------------------------------


def _str_headers():
    """Bytes between a compact `str`'s address (its `id`) and its
    characters, for each kind: ASCII, then 1, 2 and 4 bytes a character.
    CPython makes every new `str` compact, its characters right after the
    header, so `getsizeof` is the header plus `(length + 1) * width` (the
    terminating NUL). A tuple: model code cannot rewrite it."""
    headers = []
    for width, char in ((1, "\x7f"), (1, "\xff"), (2, "\uffff"), (4, "\U0010ffff")):
        header = sys.getsizeof(char * 3) - 4 * width
        # The same header for every length, or the layout is not the one assumed.
        assert sys.getsizeof(char * 9) == header + 10 * width, "unexpected str layout"
        headers.append(header)
    return tuple(headers)


_STR_HEADERS = _str_headers()


def receive_text(length, max_char, _headers=_STR_HEADERS, _chr=chr, _id=id, _fill=host.fill_context):
    """The text of the context being loaded, as a new `str` of `length` code
    points of which `max_char` is the largest. The `str` is made here with the
    right length and width (filled with `max_char`), then the host writes the
    text over its characters: one copy, no decoding in the guest."""
    text = _chr(max_char) * length
    if length < 2:
        # '' or the one character itself, which may be a shared singleton:
        # nothing to write, and it must not be written to.
        return text
    kind = 0 if max_char < 0x80 else 1 if max_char < 0x100 else 2 if max_char < 0x10000 else 3
    refused = _fill(_id(text) + _headers[kind])
    if refused is not None:
        raise ValueError(f"the host did not write the context: {refused}")
    return text


# --- the state of `random`, written by the host -----------------------------------


def _random_state_offset():
    """Bytes between a `random.Random`'s address (its `id`) and its 624 state
    words: CPython's `RandomObject` is the object header, `int index`, then
    `uint32_t state[624]`, its last field."""
    offset = _random.Random.__basicsize__ - 624 * 4
    # The header (reference count and type, four bytes each on wasm32), then
    # `index`. Checked at build time; the tests check the fields' order.
    if offset != 12:
        raise RuntimeError(f"unexpected layout of random.Random: state at {offset}")
    return offset


def seed_random_from_host():
    """Has the host write `random`'s state instead of `random.seed()`.

    componentize-py looks up `random.seed` once, right after importing the
    app at build time, and calls it before the first export call of every
    instance, so the state in the snapshot is never drawn from. This puts a
    function there that has the host write fresh state (`host.seed-random`),
    which costs a host call instead of ~92k wasm instructions, and puts the
    real `random.seed` back before any model code can see it."""

    offset = _random_state_offset()

    def seed(*args, _module=random, _real=random.seed, _inst=random._inst, _write=host.seed_random, _at=offset, _id=id):
        _module.seed = _real
        refused = _write(_id(_inst) + _at)
        # Called with arguments, it is not componentize-py's call: seed as asked.
        if args or refused is not None:
            _real(*args)
        else:
            _inst.gauss_next = None

    random.seed = seed


# --- output -------------------------------------------------------------------


class HostWriter(io.TextIOBase):
    """`sys.stdout` / `sys.stderr` during a cell: line-buffered, handing each
    finished line (or 8 KiB) to the host, so output printed before a hard stop
    survives it. The host enforces the cap; once it refuses, the cell ends
    with `OutputLimitExceeded`."""

    FLUSH_AT = 8192

    def __init__(self, which, name):
        self.name = name
        self._which = which
        # `()`, not `[]`, when empty: an immortal object, so checking a
        # writer for reuse (`new_writers`) writes no reference count.
        self._parts = ()
        self._size = 0
        self._refused = False

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self._parts:
            self._parts.append(s)
        else:
            self._parts = [s]
        self._size += len(s)
        if self._size >= self.FLUSH_AT or "\n" in s:
            self.flush()
        return len(s)

    def flush(self):
        if not self._parts:
            return
        text = "".join(self._parts)
        self._parts, self._size = (), 0
        if self._refused:
            return
        if not host.write_output(self._which, encode(text)):
            self._refused = True
            raise OutputLimitExceeded(f"{self.name} passed its per-cell cap; the rest of the cell was not run")


_writers = [HostWriter(STDOUT, "stdout"), HostWriter(STDERR, "stderr")]
# The attributes of a writer that holds nothing, as made.
_EMPTY = tuple({"name": w.name, "_which": w._which, "_parts": (), "_size": 0, "_refused": False} for w in _writers)


def new_writers(_writers=_writers, _empty=_EMPTY, _new=HostWriter):
    """The cell's stdout and stderr: the last cell's, as in a Python REPL,
    while their attributes are as made (no text left, not refused by a
    limit, not closed, no attribute set by model code); new ones otherwise.
    Two new writers cost ~38k wasm instructions, a tenth of a short cell.

    The check can run model code (an attribute it replaced has its own
    `__eq__`): the caller clears interpreter hooks after it."""
    try:
        out, err = _writers
        if out.__dict__ == _empty[0] and err.__dict__ == _empty[1]:
            return out, err
    except BaseException:
        pass  # made anew below
    out, err = _new(STDOUT, "stdout"), _new(STDERR, "stderr")
    _writers[:] = [out, err]
    return out, err


def flush_output():
    # A method call costs ~3k wasm instructions, an attribute read a tenth:
    # most flushes find nothing to send (every `FINAL` and cell end flushes).
    for stream in _writers:
        if stream._parts:
            stream.flush()


# --- calls ----------------------------------------------------------------------


def call(batch):
    """Sends a batch of calls (a list of one-key dicts) to the host; returns
    `(ok, value)` per call, in order. Raises the limit exceptions."""
    flush_output()
    try:
        payload = encode(to_json(batch))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"an argument cannot be sent to the host: {exc}") from None
    try:
        reply = host.call(payload)
    except Err as e:
        err = e.value
        if isinstance(err, _CallErrorLimit):
            raise HostCallLimitExceeded(err.value) from None
        if isinstance(err, _CallErrorDeadline):
            raise CellTimeout(err.value) from None
        raise ValueTooLarge(err.value) from None
    results = from_json(reply.decode("utf-8"))
    return [("ok", r["ok"]) if "ok" in r else ("error", r.get("error", "the call failed")) for r in results]


def send_final(value):
    """Hands the host the answer; raises if it cannot be represented or the
    host refuses it."""
    try:
        text = to_json(value)
    except (TypeError, ValueError) as exc:
        raise ValueTooLarge(f"FINAL: {exc}") from None
    flush_output()
    refused = host.final(encode(text))
    if refused is not None:
        raise ValueTooLarge(f"FINAL: {refused}")


def sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    flush_output()
    if not host.sleep(int(seconds * 1_000_000_000)):
        raise CellTimeout("the cell's wall-clock limit passed during time.sleep()")
