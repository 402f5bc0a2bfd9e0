"""The Tagger: the ImageNet classifier of the pretrained MobileNetV2 as a frozen branch beside the
captioning encoder.

The captioner's encoder keeps the TFLite weights for its trunk (conv0 + blocks before the head
start, mobilenet_v2.HEAD_START = 13 by default, tools/prepare_data.py --head-start) and fine-tunes
the rest for captioning, so those fine-tuned blocks no longer classify. The tagger takes the
shared trunk's output (N, C, 14, 14) and runs the *original* TFLite weights of the blocks from
the head start on, Conv_1, the global average pool and the 1x1 logits layer: 1,001 outputs,
row 0 = "background", row k = ImageNet class k - 1 (../shared/pretrained/mobilenet_v2/
imagenet_labels.txt). It is built by mobilenet_v2.load_from_tflite(with_classifier=True) (the
port that tests/test_tflite_import.py proves), at output stride 32, the geometry the classifier
was trained with, whatever stride the captioner's head uses; the trunk is the same for both.

    tagger = Tagger()                        # frozen, eval mode
    probs = tagger.tag_rgb([rgb224, ...])    # (N, 1001) softmax, from images (own trunk)
    probs = tagger.probs(trunk_features)     # (N, 1001), from the captioner's trunk output
    tagger = Tagger.from_model_tensors(tensors, head_start)  # from a version-2 model file
    top = top_tags(probs[0], k=5)            # [(imagenet_idx, p), ...] best first, background out
"""
import torch
import torch.nn as nn

from . import mobilenet_v2
from .paths import TFLITE

N_OUTPUTS = 1001  # background + 1,000 ImageNet classes


class Tagger(nn.Module):
    def __init__(self, tflite_path=TFLITE, head_start=mobilenet_v2.HEAD_START, full=None):
        """full: the stride-32 MobileNetV2Encoder with its classifier to take the layers from
        (default: loaded from tflite_path)."""
        super().__init__()
        if full is None:
            full = mobilenet_v2.load_from_tflite(tflite_path, with_classifier=True,
                                                 output_stride=32, head_start=head_start)
        self.head_start = head_start
        self.trunk_net = full  # conv0 + blocks[:head_start] used by trunk(); not in forward()
        self.blocks = nn.ModuleList(full.blocks[head_start:])
        self.conv1 = full.conv1
        self.classifier = full.classifier
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @classmethod
    def from_model_tensors(cls, tensors, head_start):
        """The tagger of a version-2 model file (model_file.read_model's tensors): the layers
        from the `tagger.` tensors, the trunk from the encoder's (conv0 and the blocks before
        head_start: the TFLite trunk, shared with the captioner)."""
        full = mobilenet_v2.MobileNetV2Encoder(with_classifier=True, head_start=head_start)
        state = {}
        for name, arr in tensors.items():
            parts = name.split(".")
            if parts[0] == "tagger":
                key = name[len("tagger."):]
            elif parts[0] == "encoder" and (parts[1] == "conv0" or (
                    parts[1] == "blocks" and int(parts[2]) < head_start)):
                key = name[len("encoder."):]
            else:
                continue
            state[key] = torch.from_numpy(arr.copy())
        full.load_state_dict(state)  # strict: every layer from the file
        return cls(head_start=head_start, full=full.eval())

    def train(self, mode=True):
        """Always frozen: BatchNorm is folded, so only the flag changes, but keep it eval."""
        return super().train(False)

    def trunk(self, x):
        """(N, 3, 224, 224) in [-1, 1] -> (N, C, 14, 14): the TFLite trunk, the same weights as
        the captioner's frozen trunk."""
        return self.trunk_net.trunk(x)

    def forward(self, trunk_features):
        """(N, C, 14, 14) trunk output -> (N, 1001) logits."""
        x = trunk_features
        for b in self.blocks:
            x = b(x)
        x = self.conv1(x).mean(dim=(2, 3), keepdim=True)
        return self.classifier(x).flatten(1)

    @torch.no_grad()
    def probs(self, trunk_features):
        return torch.softmax(self.forward(trunk_features), dim=1)

    @torch.no_grad()
    def tag_rgb(self, rgbs):
        """list of (224, 224, 3) uint8 images (image.load_rgb) -> (N, 1001) probabilities."""
        x = torch.cat([mobilenet_v2.preprocess(r) for r in rgbs])
        return self.probs(self.trunk(x))


def top_tags(probs_row, k=5):
    """(1001,) probabilities -> [(imagenet_idx 0..999, p)] for the k best classes, best first
    (the background output is left out)."""
    p = torch.as_tensor(probs_row)[1:]
    values, idx = torch.topk(p, k)
    return [(int(i), float(v)) for i, v in zip(idx, values)]
