/**
 * The drawing pad: white strokes on black, turned into a 28x28 uint8 digit the way MNIST's
 * were made (the ink's bounding box scaled to fit 20x20, then placed so that its centre of mass
 * sits at the centre of the 28x28 image).
 */
export class DrawPad {
  private g: CanvasRenderingContext2D;
  private down = false;
  private inked = false;

  constructor(
    private c: HTMLCanvasElement,
    private onDigit: (px: Uint8Array) => void,
  ) {
    this.g = c.getContext('2d', { willReadFrequently: true })!;
    this.clear();
    c.addEventListener('pointerdown', (e) => {
      this.down = true;
      c.setPointerCapture(e.pointerId);
      this.g.beginPath();
      const [x, y] = this.at(e);
      this.g.moveTo(x, y);
      this.stroke(e);
    });
    c.addEventListener('pointermove', (e) => this.down && this.stroke(e));
    const up = () => {
      if (!this.down) return;
      this.down = false;
      const px = this.digit();
      if (px) this.onDigit(px);
    };
    c.addEventListener('pointerup', up);
    c.addEventListener('pointercancel', up);
  }

  clear(): void {
    this.g.fillStyle = '#000';
    this.g.fillRect(0, 0, this.c.width, this.c.height);
    this.inked = false;
  }

  private at(e: PointerEvent): [number, number] {
    const r = this.c.getBoundingClientRect();
    return [((e.clientX - r.left) * this.c.width) / r.width, ((e.clientY - r.top) * this.c.height) / r.height];
  }

  private stroke(e: PointerEvent): void {
    const [x, y] = this.at(e);
    const g = this.g;
    g.strokeStyle = '#fff';
    g.lineWidth = this.c.width / 12;
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.lineTo(x, y);
    g.stroke();
    this.inked = true;
  }

  /** The 28x28 digit, or null when nothing is drawn. */
  digit(): Uint8Array | null {
    if (!this.inked) return null;
    return toMnist(this.g.getImageData(0, 0, this.c.width, this.c.height));
  }
}

export function toMnist(img: ImageData): Uint8Array | null {
  const { width: W, height: H, data } = img;
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      if (data[4 * (y * W + x)] > 20) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const s = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * s));
  const th = Math.max(1, Math.round(bh * s));
  const src = document.createElement('canvas');
  src.width = W;
  src.height = H;
  src.getContext('2d')!.putImageData(img, 0, 0);
  const small = document.createElement('canvas');
  small.width = tw;
  small.height = th;
  const sg = small.getContext('2d', { willReadFrequently: true })!;
  sg.imageSmoothingQuality = 'high';
  sg.drawImage(src, x0, y0, bw, bh, 0, 0, tw, th);
  const d = sg.getImageData(0, 0, tw, th).data;
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = d[4 * (y * tw + x)];
      m += v; mx += v * x; my += v * y;
    }
  const ox = Math.round(14 - (m ? mx / m : tw / 2));
  const oy = Math.round(14 - (m ? my / m : th / 2));
  const out = new Uint8Array(28 * 28);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const X = x + ox;
      const Y = y + oy;
      if (X >= 0 && X < 28 && Y >= 0 && Y < 28) out[Y * 28 + X] = d[4 * (y * tw + x)];
    }
  return out;
}
