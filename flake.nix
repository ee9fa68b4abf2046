{
  description = "genpush: push every Nix generation you switch to into your binary caches";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgsFor.${system});
      nixpkgsFor = nixpkgs.lib.genAttrs systems (
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        }
      );
    in
    {
      overlays.default = final: _prev: { genpush = final.callPackage ./nix/package.nix { }; };

      packages = forAllSystems (pkgs: {
        default = pkgs.genpush;
        genpush = pkgs.genpush;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = nixpkgs.lib.getExe pkgs.genpush;
          meta.description = "Run genpush";
        };
      });

      # Modules take the package from `pkgs.genpush` when the overlay is
      # applied, else build nix/package.nix with the host's nixpkgs.
      nixosModules.default = ./nix/nixos-module.nix;
      homeManagerModules.default = ./nix/home-manager-module.nix;

      checks = forAllSystems (
        pkgs:
        {
          # Builds, installs the units, and checks that no devDependency is shipped.
          package = pkgs.genpush;
        }
        # Boots a VM: needs KVM on the machine running `nix flake check`.
        // import ./nix/tests { inherit pkgs; module = self.nixosModules.default; }
      );
    };
}
