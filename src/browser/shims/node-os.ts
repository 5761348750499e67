// node:os in the browser bundle: no home folder (the tuning cache is never written in a page).
export const homedir = () => '/home';
export const tmpdir = () => '/tmp';
export const platform = () => 'browser';
export const hostname = () => 'browser';
export default { homedir, tmpdir, platform, hostname };
