#!/usr/bin/python3
"""Average the weights of several checkpoints of one run (checkpoint averaging).

  /usr/bin/python3 tools/average_checkpoints.py OUT.pt IN1.pt IN2.pt [...]

The decoder ("model") and encoder weights are averaged element-wise; the config, vocabulary and
state of the last input are kept. All inputs must come from the same run (same shapes).
"""
import sys

import torch


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    cks = [torch.load(p) for p in paths]
    avg = dict(cks[-1])
    for key in ("model", "encoder"):
        avg[key] = {name: sum(ck[key][name].double() for ck in cks).div(len(cks)).to(t.dtype)
                    for name, t in cks[-1][key].items()}
    avg["state"] = dict(avg["state"], averaged=paths)
    torch.save(avg, out)
    print("wrote %s: the mean of %s" % (out, ", ".join(paths)))


if __name__ == "__main__":
    main()
