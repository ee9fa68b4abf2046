/** The systems nixpkgs builds for: what a `systems:` list is checked against, and what a `--to` cache serves. */
export const NIX_SYSTEMS = [
  "x86_64-linux",
  "aarch64-linux",
  "i686-linux",
  "armv6l-linux",
  "armv7l-linux",
  "riscv64-linux",
  "powerpc64le-linux",
  "x86_64-darwin",
  "aarch64-darwin",
  "x86_64-freebsd",
];
