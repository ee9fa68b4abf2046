# nixpkgs as flake.nix imports it (`import nixpkgs { inherit system; overlays = [ ... ]; }`):
# the package set of stand-ins.nix, the overlays applied.
{
  system,
  overlays ? [ ],
}:
(import ../stand-ins.nix { }).pkgsFor { inherit system overlays; }
