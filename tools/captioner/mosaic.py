"""2x2 mosaics of photos and where their tiles fall on the attention grid: shared by the
grounding benchmark (tools/grounding_bench.py, which scores attention on dev mosaics) and the
grounding fine-tune (tools/train_grounding.py, which trains on train mosaics).

A mosaic is four photos squashed to TILE x TILE each, tile k at row k // 2, column k % 2 of a
2 TILE x 2 TILE canvas (the program's 224x224 input, so its own squash leaves it unchanged).
"""
import numpy as np

TILE = 112  # a mosaic tile's side; 2 x TILE = the program's 224x224 input


def compose(tiles):
    """Four (TILE, TILE, 3) uint8 arrays -> the (2 TILE, 2 TILE, 3) mosaic."""
    canvas = np.zeros((2 * TILE, 2 * TILE, 3), dtype=np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, 2)
        canvas[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = t
    return canvas


def band_weights(n, bands=2):
    """[n, bands]: the share of each of n equal cells (along one axis) lying in each of `bands`
    equal bands. With n = 7 and 2 bands, cell 3 straddles the middle: [0.5, 0.5]."""
    w = np.zeros((n, bands))
    for i in range(n):
        for b in range(bands):
            lo, hi = max(i / n, b / bands), min((i + 1) / n, (b + 1) / bands)
            w[i, b] = max(0.0, hi - lo) * n
    return w


def tile_cell_weights(rows, cols):
    """[4, rows * cols]: the share of each grid cell (row-major) lying in each tile; the
    columns sum to 1. Mass on tile k of a map alpha is tile_cell_weights(...)[k] @ alpha."""
    wr, wc = band_weights(rows), band_weights(cols)
    return np.stack([np.outer(wr[:, k // 2], wc[:, k % 2]).ravel() for k in range(4)])


def tile_masses(alpha, rows, cols):
    """alpha (rows*cols weights, row-major) -> the mass on the 2x2 mosaic's tiles, [top-left,
    top-right, bottom-left, bottom-right] (tile k at row k // 2, column k % 2)."""
    a = np.asarray(alpha, dtype=np.float64).reshape(rows, cols)
    return (band_weights(rows).T @ a @ band_weights(cols)).ravel()
