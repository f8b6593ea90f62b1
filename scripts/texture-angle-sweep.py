#!/usr/bin/python3
"""Writes test/texture/fixtures/angle-sweep.json: scikit-image's GLCM features of
assets/texture/brick.png for every whole-degree angle 0-359 and every distance 1-10.

Run from the repository root with Debian's scikit-image (apt-get install python3-skimage, 0.19.3):

    /usr/bin/python3 scripts/texture-angle-sweep.py

The test that reads the file (test/texture/angle-sweep.test.ts) needs no Python.

- angles: np.deg2rad(degree), i.e. degree * (pi / 180) in float64, as taskwarden converts
  --angles; the radians are written out so the test can check the conversion bit for bit.
- offsets: what scikit-image's Cython loop computes for each (degree, distance):
  round(sin(angle) * distance), round(cos(angle) * distance) with libc sin/cos (Python's math
  module calls the same functions) and the `round` of skimage/_shared/interpolation.pxd:
  (r + 0.5) if r > 0 else (r - 0.5), truncated toward zero.
- configs: graycomatrix(image, distances 1-10, [angle], levels, symmetric=True, normed=True) and
  graycoprops for contrast, dissimilarity, homogeneity, ASM, energy and correlation, plus
  entropy = -sum p ln p of each normalised matrix (graycoprops 0.19.3 has no entropy). Features
  depend on the offset only, so identical feature vectors are stored once: `index[degree][d - 1]`
  points into `values`, each entry in the order of `features`.
"""
import json
import math
import sys

import numpy as np
import skimage
from skimage.feature import graycomatrix, graycoprops
from skimage.io import imread

PROPS = ['contrast', 'dissimilarity', 'homogeneity', 'ASM', 'energy', 'correlation']
DISTANCES = list(range(1, 11))
DEGREES = list(range(360))


def skimage_round(r):
    """skimage/_shared/interpolation.pxd: <Py_ssize_t>((r + 0.5) if (r > 0.0) else (r - 0.5))."""
    return int(r + 0.5) if r > 0.0 else int(r - 0.5)


def sweep(image, levels, radians):
    values, index, seen = [], [], {}
    for angle in radians:
        P = graycomatrix(image, DISTANCES, [angle], levels=levels, symmetric=True, normed=True)
        props = {name: graycoprops(P, name)[:, 0] for name in PROPS}
        row = []
        for d in range(len(DISTANCES)):
            p = P[:, :, d, 0]
            nz = p[p > 0]
            entropy = float(-(nz * np.log(nz)).sum())
            vector = tuple(float(props[name][d]) for name in PROPS) + (entropy,)
            if vector not in seen:
                seen[vector] = len(values)
                values.append(list(vector))
            row.append(seen[vector])
        index.append(row)
    return {'values': values, 'index': index}


def main():
    image = imread('assets/texture/brick.png')
    if image.dtype != np.uint8 or image.ndim != 2:
        sys.exit(f'expected an 8-bit grey image, got {image.dtype} {image.shape}')
    radians = np.deg2rad(np.array(DEGREES, dtype=np.float64))
    offsets = [[[skimage_round(math.sin(a) * d), skimage_round(math.cos(a) * d)] for d in DISTANCES] for a in radians.tolist()]
    out = {
        'about': {
            'computed_with': f'scikit-image {skimage.__version__}, numpy {np.__version__} (scripts/texture-angle-sweep.py)',
            'image': 'assets/texture/brick.png',
            'shape': list(image.shape),
            'degrees': '0-359; angles[k] = np.deg2rad(k)',
            'distances': DISTANCES,
            'offsets': 'offsets[degree][distance - 1] = [row offset, column offset] as the Cython loop rounds them',
            'configs': {'levels256': 'image as is, levels=256', 'levels32': 'image // 8, levels=32'},
            'layout': 'configs[c].values[configs[c].index[degree][distance - 1]] = features in the order of `features`',
        },
        'features': PROPS + ['entropy'],
        'angles': radians.tolist(),
        'offsets': offsets,
        'configs': {
            'levels256': sweep(image, 256, radians.tolist()),
            'levels32': sweep(image // 8, 32, radians.tolist()),
        },
    }
    with open('test/texture/fixtures/angle-sweep.json', 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print({c: len(v['values']) for c, v in out['configs'].items()}, 'distinct feature vectors')


if __name__ == '__main__':
    main()
