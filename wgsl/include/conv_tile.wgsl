// The output tile of one thread of a direct conv (conv2d.wgsl fwd, int8_conv.wgsl conv): one
// (n, oh, PW-wide run of ow) per thread, threads over workgroups (x, y) (folded past 65535), z
// over (group, block of output channels). Lanes past the last tile get the last tile (tix tells
// them to skip the store): the shuffles of the kernels need every lane.
// The includer defines WG and PW and declares the uniform p with tiles, owt, OH, nob, sh, sw,
// ph, pw.
struct ConvTile {
  tix: u32,  // thread index; tix >= p.tiles: clamped lane, store nothing
  n: u32,
  oh: u32,
  ow0: u32,  // first of the PW output columns
  g: u32,    // group
  ob: u32,   // block of output channels in the group
  ih0: i32,  // input row and column of tap (0, 0) at (oh, ow0)
  iw0: i32,
}

fn conv_tile(lid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> ConvTile {
  var c: ConvTile;
  c.tix = (wid.x + wid.y * nwg.x) * ${WG}u + lid.x;
  let t = min(c.tix, p.tiles - 1u);
  let rr = t / p.owt;
  c.oh = rr % p.OH;
  c.n = rr / p.OH;
  c.g = wid.z / p.nob;
  c.ob = wid.z % p.nob;
  c.ow0 = (t % p.owt) * ${PW}u;
  c.ih0 = i32(c.oh * p.sh) - p.ph;
  c.iw0 = i32(c.ow0 * p.sw) - p.pw;
  return c;
}
