#!/usr/bin/python3
"""Average the weights of several checkpoints (checkpoint averaging, weight-space ensembles).

  /usr/bin/python3 tools/average_checkpoints.py OUT.pt IN1.pt IN2.pt [...]

The decoder ("model") and encoder weights are averaged element-wise; the config, vocabulary and
state of the last input are kept. The inputs must share one starting point (same shapes, and
weights that stayed close): epochs of one run, or a run and a fine-tune of it.
tools/train_all.sh uses both: the mean of the last two cross-entropy epochs, then the mean of
that and its self-critical fine-tune (tools/train_scst.py), a weight-space ensemble of a model
and its fine-tune (WiSE-FT, Wortsman et al. 2022, arXiv:2109.01903), which scores better on dev
than either end (models/README.md, Experiments).
"""
import sys

import torch


def average(cks, paths):
    """The element-wise mean of the checkpoints' "model" and "encoder" weights, with the other
    entries (config, vocabulary, state) of the last one. Raises ValueError naming the first
    input whose tensor names or shapes differ from the last one's."""
    avg = dict(cks[-1])
    for key in ("model", "encoder"):
        ref = cks[-1][key]
        for ck, path in zip(cks, paths):
            if set(ck[key]) != set(ref):
                raise ValueError("%s: its %s tensors are not those of %s" % (path, key, paths[-1]))
            for name, t in ref.items():
                if ck[key][name].shape != t.shape:
                    raise ValueError("%s: %s.%s has shape %s, not %s as in %s" % (
                        path, key, name, tuple(ck[key][name].shape), tuple(t.shape), paths[-1]))
        avg[key] = {name: sum(ck[key][name].double() for ck in cks).div(len(cks)).to(t.dtype)
                    for name, t in ref.items()}
    avg["state"] = dict(avg["state"], averaged=list(paths))
    return avg


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    try:
        avg = average([torch.load(p) for p in paths], paths)
    except ValueError as e:
        sys.exit("average_checkpoints.py: %s" % e)
    torch.save(avg, out)
    print("wrote %s: the mean of %s" % (out, ", ".join(paths)))


if __name__ == "__main__":
    main()
