import { it, expect } from 'vitest';
import { gpuDescribe, expectClose } from '../helpers.js';
import { normalizeImages } from '../../src/ops/image.js';
import { refNormalizeImages } from '../../src/ops/image.ref.js';

gpuDescribe('image normalisation', () => {
  for (const shape of [[1, 1, 1, 3], [2, 3, 5, 7], [4, 1, 28, 28]] as [number, number, number, number][]) {
    it(`matches the CPU reference for [${shape.join(', ')}]`, async () => {
      const n = shape.reduce((a, b) => a * b);
      const px = Uint8Array.from({ length: n }, (_, i) => (i * 37 + (i >> 3)) & 255);
      px[0] = 0;
      px[n - 1] = 255;
      const c = shape[1];
      const mean = [0.1, 0.5, 0.9].slice(0, c);
      const std = [0.3, 0.25, 2].slice(0, c);
      const got = await normalizeImages(px, shape, mean, std).read();
      expectClose(got, refNormalizeImages(px, shape, mean, std), 1e-6, 1e-6, 'normalize');
    });
  }
  it('rejects a channel count that does not match the statistics', () => {
    expect(() => normalizeImages(new Uint8Array(12), [1, 3, 2, 2], [0.5], [0.5])).toThrow(/3 channels need 3 means/);
  });
});
