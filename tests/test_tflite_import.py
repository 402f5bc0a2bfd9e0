#!/usr/bin/python3
"""The MobileNetV2 port (captioner/tflite_reader.py + captioner/mobilenet_v2.py) reproduces the
ImageNet classifier of the TFLite file: bird.rgb -> "chickadee", sunflower.rgb -> "daisy",
each with p > 0.95 (the shared README measured about 0.98).

Needs PyTorch (Debian python3-torch) and ../shared/pretrained/mobilenet_v2; without them the
test is skipped (exit 77, meson's skip code) and says why.
"""
import os
import sys
import unittest

from optional_deps import skip_or_fail

try:
    import numpy as np
    import torch
    from captioner import mobilenet_v2
    from captioner.paths import TFLITE
except ImportError as e:
    skip_or_fail(e)
PRETRAINED = os.path.dirname(TFLITE)
if not os.path.isdir(PRETRAINED):
    print("SKIP: %s not found" % PRETRAINED)
    sys.exit(77)


class TfliteImport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = mobilenet_v2.load_from_tflite(TFLITE, with_classifier=True)
        with open(os.path.join(PRETRAINED, "imagenet_labels.txt")) as f:
            cls.labels = f.read().splitlines()

    def top1(self, name):
        x = np.fromfile(os.path.join(PRETRAINED, name), np.uint8).reshape(224, 224, 3)
        with torch.no_grad():
            p = torch.softmax(self.model.classify(mobilenet_v2.preprocess(x)), dim=1)[0]
        i = int(p.argmax())
        return self.labels[i], float(p[i])

    def test_bird_is_chickadee(self):
        label, p = self.top1("bird.rgb")
        self.assertEqual(label, "chickadee")
        self.assertGreater(p, 0.95)

    def test_sunflower_is_daisy(self):
        label, p = self.top1("sunflower.rgb")
        self.assertEqual(label, "daisy")
        self.assertGreater(p, 0.95)

    def test_feature_map_shape(self):
        x = torch.zeros(1, 3, 224, 224)
        with torch.no_grad():
            self.assertEqual(tuple(self.model(x).shape), (1, 1280, 7, 7))

    def test_same_padding_is_bottom_right(self):
        # TF 'SAME' for a stride-2 3x3 conv on an even size pads one row/col at the end only.
        x = torch.ones(1, 1, 4, 4)
        y = mobilenet_v2.same_pad(x, 3, 2)
        self.assertEqual(tuple(y.shape), (1, 1, 5, 5))
        self.assertEqual(float(y[0, 0, 0].sum()), 4.0)   # top row kept
        self.assertEqual(float(y[0, 0, 4].sum()), 0.0)   # padded bottom row


if __name__ == "__main__":
    unittest.main()
