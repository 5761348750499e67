// Shared helpers for every kernel family.
// Linear thread index of a 1-D launch folded into (x, y) past 65535 workgroups (Engine.grid1d).
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}
