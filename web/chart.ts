// A small line chart on a canvas (the page's loss and accuracy curves); no charting library.
export interface Series {
  color: string;
  points: [number, number][];
}

export function drawChart(c: HTMLCanvasElement, series: Series[], o: { yLabel: string; yMin?: number; yMax?: number }): void {
  const g = c.getContext('2d')!;
  const W = c.width;
  const H = c.height;
  const L = 46;
  const B = 22;
  g.clearRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5b6470';
  if (!pts.length) {
    g.fillText('no data yet', W / 2 - 30, H / 2);
    return;
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const y0 = o.yMin ?? Math.min(0, ...ys);
  const y1 = o.yMax ?? Math.max(...ys, y0 + 1e-6);
  const X = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - 8);
  const Y = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - B - 8);
  g.strokeStyle = '#d8dde3';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    g.beginPath();
    g.moveTo(L, Y(y));
    g.lineTo(W - 8, Y(y));
    g.stroke();
    g.fillText(y1 - y0 < 5 ? y.toFixed(2) : y.toFixed(0), 4, Y(y) + 4);
  }
  g.fillText(o.yLabel, 4, 10);
  for (const s of series) {
    if (!s.points.length) continue;
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.6;
    g.beginPath();
    s.points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
    if (s.points.length < 30) for (const [x, y] of s.points) g.fillRect(X(x) - 2, Y(y) - 2, 4, 4);
  }
}
