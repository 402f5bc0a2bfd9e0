"""Minimal reader for the TFLite flatbuffer format, enough for a quantized MobileNetV2.

Uses Debian's `python3-flatbuffers` generic Table access with field numbers taken from the
public TFLite schema (tensorflow/lite/schema/schema.fbs); no generated code is needed.
"""
import struct

import numpy as np
from flatbuffers import table

# BuiltinOperator codes (schema.fbs)
ADD, AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, RESHAPE, SOFTMAX = 0, 1, 3, 4, 22, 25
OP_NAMES = {ADD: "ADD", AVERAGE_POOL_2D: "AVERAGE_POOL_2D", CONV_2D: "CONV_2D",
            DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D", RESHAPE: "RESHAPE", SOFTMAX: "SOFTMAX"}
# TensorType
DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 9: np.int8}
# ActivationFunctionType
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3
# Padding
PAD_SAME, PAD_VALID = 0, 1


class _T:
    """A flatbuffer table with helpers addressed by schema field number."""

    def __init__(self, buf, pos):
        self.t = table.Table(buf, pos)

    def _off(self, field):
        return self.t.Offset(4 + 2 * field)

    def scalar(self, field, fmt, default=0):
        o = self._off(field)
        if not o:
            return default
        return struct.unpack_from("<" + fmt, self.t.Bytes, self.t.Pos + o)[0]

    def string(self, field):
        o = self._off(field)
        return self.t.String(self.t.Pos + o).decode() if o else ""

    def vector(self, field, fmt):
        o = self._off(field)
        if not o:
            return []
        n = self.t.VectorLen(o)
        start = self.t.Vector(o)
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.t.Bytes, start))

    def bytes(self, field):
        o = self._off(field)
        if not o:
            return b""
        n = self.t.VectorLen(o)
        start = self.t.Vector(o)
        return bytes(self.t.Bytes[start:start + n])

    def tables(self, field):
        o = self._off(field)
        if not o:
            return []
        n = self.t.VectorLen(o)
        start = self.t.Vector(o)
        return [_T(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(n)]

    def table(self, field):
        o = self._off(field)
        return _T(self.t.Bytes, self.t.Indirect(self.t.Pos + o)) if o else None


class Tensor:
    def __init__(self, name, shape, dtype, data, scale, zero_point):
        self.name, self.shape, self.dtype = name, shape, dtype
        self.data, self.scale, self.zero_point = data, scale, zero_point

    def dequantized(self):
        """float = (q - zero_point) * scale, per tensor (this model has no per-axis params)."""
        q = self.data.astype(np.float64)
        if self.scale is None:
            return q.astype(np.float32)
        return ((q - self.zero_point) * self.scale).astype(np.float32)


class Op:
    def __init__(self, kind, inputs, outputs, options):
        self.kind, self.inputs, self.outputs, self.options = kind, inputs, outputs, options


def read_tflite(path):
    """Return (tensors, ops, input_index, output_index) of the file's single subgraph."""
    buf = bytearray(open(path, "rb").read())
    if buf[4:8] != b"TFL3":
        raise ValueError("%s: not a TFLite file (no TFL3 identifier)" % path)
    model = _T(buf, struct.unpack_from("<I", buf, 0)[0])  # root table offset
    opcodes = []
    for oc in model.tables(1):
        code = oc.scalar(3, "i", 0) or oc.scalar(0, "b", 0)  # builtin_code or deprecated one
        opcodes.append(code)
    buffers = [b.bytes(0) for b in model.tables(4)]
    (sub,) = model.tables(2)
    tensors = []
    for t in sub.tables(0):
        shape = t.vector(0, "i")
        dtype = DTYPES[t.scalar(1, "b", 0)]
        raw = buffers[t.scalar(2, "I", 0)]
        data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy() if raw else None
        q = t.table(4)
        scale = zp = None
        if q is not None and q.vector(2, "f"):
            (scale,) = q.vector(2, "f")
            (zp,) = q.vector(3, "q")
        tensors.append(Tensor(t.string(3), shape, dtype, data, scale, zp))
    ops = []
    for o in sub.tables(3):
        kind = opcodes[o.scalar(0, "I", 0)]
        opt = o.table(4)
        options = {}
        if kind == CONV_2D:
            options = dict(padding=opt.scalar(0, "b"), stride=(opt.scalar(2, "i"), opt.scalar(1, "i")),
                           act=opt.scalar(3, "b"))
        elif kind == DEPTHWISE_CONV_2D:
            options = dict(padding=opt.scalar(0, "b"), stride=(opt.scalar(2, "i"), opt.scalar(1, "i")),
                           multiplier=opt.scalar(3, "i"), act=opt.scalar(4, "b"))
        elif kind == ADD:
            options = dict(act=opt.scalar(0, "b") if opt else 0)
        ops.append(Op(kind, o.vector(1, "i"), o.vector(2, "i"), options))
    (inp,) = sub.vector(1, "i")
    (out,) = sub.vector(2, "i")
    return tensors, ops, inp, out
