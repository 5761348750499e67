// The output tile of one thread of a depthwise conv (depthwise.wgsl dw_fwd, int8_conv.wgsl
// dwconv): R rows x P columns of one plane, 1-D launch over planes * row bands * column bands,
// index i (the caller returns when i >= p.count).
// The includer declares the constants R, P, SH, SW and the uniform p with tr, tc, ph, pw.
struct DwTile {
  plane: u32,  // the channel (or 4-channel block) within the image, of `planes`
  n: u32,
  oh0: u32,
  ow0: u32,
  ih0: i32,  // input row and column of tap (0, 0) at (oh0, ow0)
  iw0: i32,
}

fn dw_tile(i: u32, planes: u32) -> DwTile {
  var d: DwTile;
  let pl = i / (p.tc * p.tr);
  d.plane = pl % planes;
  d.n = pl / planes;
  d.oh0 = ((i / p.tc) % p.tr) * R;
  d.ow0 = (i % p.tc) * P;
  d.ih0 = i32(d.oh0 * SH) - p.ph;
  d.iw0 = i32(d.ow0 * SW) - p.pw;
  return d;
}
