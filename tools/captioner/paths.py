"""Where things are, relative to this checkout: the repository root, the data shared by all
checkouts (../shared beside the repository), the pretrained encoder, the shipped model file and
the training cache. Every script takes its defaults from here, so a move is one edit."""
import os

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
FLICKR8K = os.path.join(SHARED, "data", "flickr8k")
# The ImageNet-trained MobileNetV2 the encoder is initialised from (uint8, dequantized on load).
TFLITE = os.path.join(SHARED, "pretrained", "mobilenet_v2", "mobilenet_v2_1.0_224_quant.tflite")
DEFAULT_MODEL = os.path.join(ROOT, "models", "caption-flickr8k.bin")
ASSETS = os.path.join(ROOT, "assets")
# Training data and runs (tools/prepare_data.py, tools/train.py, ...); not in git.
CACHE = os.path.join(ROOT, "cache")
GOLDEN = os.path.join(ROOT, "tests", "fixtures", "golden")
