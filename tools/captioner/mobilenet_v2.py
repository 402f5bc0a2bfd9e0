"""MobileNetV2 1.0 (Sandler et al. 2018) in PyTorch, float, with TensorFlow 'SAME' padding,
loaded from the ImageNet-trained uint8 TFLite file in ../shared/pretrained/mobilenet_v2
(paths.TFLITE).

The encoder stops at `Conv_1` (1x1 conv to 1280 channels + ReLU6): at 224x224 input it gives
the 7x7x1280 feature map whose 49 cells are the annotation vectors a_i of Show, Attend and Tell.
With output_stride=16 (DeepLab's "atrous" MobileNetV2, TF-slim's `output_stride`) the last
stride-2 layer (block 13's depthwise conv) runs at stride 1 and the depthwise convs after it
(blocks 14-16) are dilated by 2, so the same weights give a 14x14x1280 map (196 cells).
The optional classifier head (average pool + 1x1 conv to 1001 classes) exists only to prove
the port (tests/test_tflite_import.py).

The C encoder (src/encoder.c) implements exactly this module; tensor names here are the
names in the model file.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import tflite_reader as tfl

# (expansion t, output channels c, repeats n, first stride s): Table 2 of Sandler et al.
INVERTED_RESIDUAL_SETTINGS = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]
FEATURE_DIM = 1280
INPUT_SIZE = 224
# The encoder is cut in two for training: the frozen trunk (conv0 + blocks before the head start,
# by default blocks 0-12, output 14x14x96 at 224 input) is run once per image and cached; the head
# (by default blocks 13-16 + Conv_1, the last stride-2 stage on) is fine-tuned with the decoder
# (tools/train.py). A head start of 10 (prepare_data.py --head-start) fine-tunes the 96-channel
# stage too, on cached 14x14x64 block-9 outputs. Starts 7..13 all cut at 14x14 (stride 16), the
# grid whose trunk both output strides share.
HEAD_START = 13
HEAD_STARTS = range(7, 14)
# Supported output strides (input side / feature-map side); the model file stores 16, or 0 for 32.
OUTPUT_STRIDES = (16, 32)


def trunk_channels(head_start=HEAD_START):
    """Channels of the trunk output (the input of block `head_start`)."""
    channels = [c for _, c, n, _ in INVERTED_RESIDUAL_SETTINGS for _ in range(n)]
    return channels[head_start - 1]


TRUNK_CHANNELS = trunk_channels()


def same_pad(x, k, stride, dilation=1):
    """TF 'SAME' padding: the odd extra row/column goes at the bottom/right. A dilated kernel
    pads for its effective size k + (k - 1)(dilation - 1) (5 for a 3x3 with dilation 2)."""
    h, w = x.shape[-2:]
    k = k + (k - 1) * (dilation - 1)
    ph = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class ConvLayer(nn.Module):
    """Convolution (BatchNorm already folded into weight/bias) + optional ReLU6."""

    def __init__(self, cin, cout, k, stride=1, depthwise=False, relu6=True, dilation=1):
        super().__init__()
        self.k, self.stride, self.relu6, self.dilation = k, stride, relu6, dilation
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=0, dilation=dilation,
                              groups=cin if depthwise else 1)

    def forward(self, x):
        x = self.conv(same_pad(x, self.k, self.stride, self.dilation) if self.k > 1 else x)
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t, dilation=1):
        super().__init__()
        hidden = cin * t
        self.expand = ConvLayer(cin, hidden, 1) if t != 1 else None
        self.depthwise = ConvLayer(hidden, hidden, 3, stride, depthwise=True, dilation=dilation)
        self.project = ConvLayer(hidden, cout, 1, relu6=False)  # linear bottleneck
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


def layer_strides(output_stride=32):
    """(stride, dilation) of each block's depthwise conv. Once the running stride reaches
    output_stride, later layers keep stride 1 and dilate by the strides they skip (TF-slim's
    mobilenet `output_stride`): for 16, block 13 gets stride 1, blocks 14-16 dilation 2."""
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError("output stride %r, expected one of %s" % (output_stride, OUTPUT_STRIDES))
    out, current, rate = [], 2, 1  # conv0 has stride 2
    for _, _, n, s in INVERTED_RESIDUAL_SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            if current == output_stride:
                out.append((1, rate))
                rate *= stride
            else:
                out.append((stride, 1))
                current *= stride
    return out


class MobileNetV2Encoder(nn.Module):
    """Input: float (N, 3, H, W) in [-1, 1] (pixel / 128 - 1).
    Output: (N, 1280, H/S, W/S), S = output_stride (32, or 16 with the dilated last stage).
    Both strides have the same parameters under the same names."""

    def __init__(self, with_classifier=False, output_stride=32, head_start=HEAD_START):
        super().__init__()
        if head_start not in HEAD_STARTS:
            raise ValueError("head start %d: must be in %d..%d" % (head_start, HEAD_STARTS[0],
                                                                   HEAD_STARTS[-1]))
        self.output_stride, self.head_start = output_stride, head_start
        self.conv0 = ConvLayer(3, 32, 3, 2)
        blocks, cin = [], 32
        geometry = iter(layer_strides(output_stride))
        for t, c, n, _ in INVERTED_RESIDUAL_SETTINGS:
            for i in range(n):
                stride, dilation = next(geometry)
                blocks.append(InvertedResidual(cin, c, stride, t, dilation))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.conv1 = ConvLayer(cin, FEATURE_DIM, 1)
        self.classifier = nn.Conv2d(FEATURE_DIM, 1001, 1) if with_classifier else None

    def forward(self, x):
        return self.head(self.trunk(x))

    def trunk(self, x):
        """(N, 3, H, W) -> (N, C, H/16, W/16), C = trunk_channels(head_start): conv0 and the
        blocks before head_start."""
        x = self.conv0(x)
        for b in self.blocks[:self.head_start]:
            x = b(x)
        return x

    def head(self, x):
        """(N, C, H/16, W/16) -> (N, 1280, H/S, W/S), S = output_stride: blocks from
        head_start, then Conv_1."""
        for b in self.blocks[self.head_start:]:
            x = b(x)
        return self.conv1(x)

    def head_parameters(self):
        return [p for m in (*self.blocks[self.head_start:], self.conv1) for p in m.parameters()]

    def classify(self, x):
        f = self.forward(x).mean(dim=(2, 3), keepdim=True)
        return self.classifier(f).flatten(1)

    def conv_layers(self):
        """Every ConvLayer in graph order (the order of CONV_2D/DEPTHWISE ops in the TFLite file)."""
        layers = [self.conv0]
        for b in self.blocks:
            layers += [l for l in (b.expand, b.depthwise, b.project) if l is not None]
        return layers + [self.conv1]


def preprocess(rgb_uint8):
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [-1, 1]: the TFLite input quantization
    (scale 1/128, zero point 128) read as float."""
    x = torch.from_numpy(np.array(rgb_uint8, dtype=np.uint8)).float()  # a writable copy
    return (x / 128.0 - 1.0).permute(2, 0, 1).unsqueeze(0)


def with_output_stride(model, output_stride):
    """The same weights in an encoder of another output stride (a new module; `model` is kept)."""
    if output_stride == model.output_stride:
        return model
    other = MobileNetV2Encoder(model.classifier is not None, output_stride, model.head_start)
    other.load_state_dict(model.state_dict())
    return other.train(model.training)


def load_from_tflite(path, with_classifier=False, output_stride=32, head_start=HEAD_START):
    """Build the encoder and copy the dequantized TFLite weights into it, checking that the
    graph's conv ops, strides and activations are the ones this module expects. The TFLite
    graph is the stride-32 network: the weights are checked against that and then moved into
    an encoder of `output_stride` (the weights are the same for every stride). head_start: where
    trunk() ends and head() begins (the weights and forward() do not depend on it)."""
    tensors, ops, _, _ = tfl.read_tflite(path)
    convs = [op for op in ops if op.kind in (tfl.CONV_2D, tfl.DEPTHWISE_CONV_2D)]
    model = MobileNetV2Encoder(with_classifier, head_start=head_start)
    layers = model.conv_layers()
    assert len(convs) == len(layers) + 1, "unexpected number of conv ops"
    for op, layer in zip(convs, layers):
        w = tensors[op.inputs[1]].dequantized()
        b = tensors[op.inputs[2]].dequantized()
        if op.kind == tfl.DEPTHWISE_CONV_2D:
            w = w.transpose(3, 0, 1, 2)  # [1, kh, kw, C] -> [C, 1, kh, kw]
        else:
            w = w.transpose(0, 3, 1, 2)  # [out, kh, kw, in] -> [out, in, kh, kw]
        assert tuple(layer.conv.weight.shape) == w.shape, (layer.conv.weight.shape, w.shape)
        assert op.options["padding"] == tfl.PAD_SAME
        assert op.options["stride"] == (layer.stride, layer.stride)
        assert (op.options["act"] == tfl.ACT_RELU6) == layer.relu6
        layer.conv.weight.data = torch.from_numpy(np.ascontiguousarray(w))
        layer.conv.bias.data = torch.from_numpy(b)
    if with_classifier:
        head = convs[-1]
        w = tensors[head.inputs[1]].dequantized().transpose(0, 3, 1, 2)
        model.classifier.weight.data = torch.from_numpy(np.ascontiguousarray(w))
        model.classifier.bias.data = torch.from_numpy(tensors[head.inputs[2]].dequantized())
    return with_output_stride(model.eval(), output_stride)


def tflite_quantized_weights(path):
    """The convolution weights of the TFLite file as stored there: {state_dict name of the
    weight (stride-32 encoder with classifier): (uint8 array in PyTorch's layout, scale,
    zero point)}, value = (q - zero point) * scale, the same values load_from_tflite
    dequantizes. The tagger keeps its weights this way in the model file (a quarter of the
    bytes, and exactly the pretrained classifier's)."""
    tensors, ops, _, _ = tfl.read_tflite(path)
    convs = [op for op in ops if op.kind in (tfl.CONV_2D, tfl.DEPTHWISE_CONV_2D)]
    model = MobileNetV2Encoder(with_classifier=True)
    names = {id(m): n for n, m in model.named_modules()}
    layers = [names[id(layer.conv)] for layer in model.conv_layers()] + ["classifier"]
    assert len(convs) == len(layers), "unexpected number of conv ops"
    out = {}
    for op, name in zip(convs, layers):
        t = tensors[op.inputs[1]]
        assert t.data.dtype == np.uint8 and t.scale is not None, name
        q = t.data.reshape(t.shape)
        q = q.transpose(3, 0, 1, 2) if op.kind == tfl.DEPTHWISE_CONV_2D else q.transpose(0, 3, 1, 2)
        out[name + ".weight"] = (np.ascontiguousarray(q), t.scale, t.zero_point)
    return out
