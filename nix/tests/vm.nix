# A NixOS VM running services.genpush with a `type: nix` cache in a local
# directory. A new system generation is made by pointing the system profile
# at a store path that holds a `system` file (no nixos-rebuild: only the
# profile link matters to genpush), and the test waits until the cache holds
# its narinfo, and that of a path in its closure.
#
#   nix build .#checks.x86_64-linux.vm -L
#   nix run .#checks.x86_64-linux.vm.driverInteractive   # a Python shell at the VM
{ pkgs, module }:
let
  cacheDir = "/var/cache/genpush-test";
  system = pkgs.stdenv.hostPlatform.system;

  # A store path shaped like a NixOS generation, as far as genpush looks:
  # <generation>/system names its system; `payload` puts a path in its closure.
  payload = pkgs.writeText "genpush-test-payload" "a path the cache must receive\n";
  generation = pkgs.runCommand "genpush-test-generation" { } ''
    mkdir "$out"
    echo -n ${system} > "$out/system"
    ln -s ${payload} "$out/payload"
  '';
  hashOf = path: builtins.substring 0 32 (baseNameOf (toString path));
in
pkgs.testers.runNixOSTest {
  name = "genpush";

  nodes.machine =
    { ... }:
    {
      imports = [ module ];

      services.genpush = {
        enable = true;
        settings.caches.local = {
          type = "nix";
          store = "file://${cacheDir}";
        };
        # Declared but unused by the cache: shows the LoadCredential= route works.
        credentials.unused = "/etc/hostname";
      };

      # The services see the file system read-only (ProtectSystem=strict) but
      # for their own state and cache directories: open the test's cache.
      systemd.tmpfiles.rules = [ "d ${cacheDir} 0755 root root -" ];
      systemd.services.genpush-system.serviceConfig.ReadWritePaths = [ cacheDir ];
      systemd.services.genpush-verify.serviceConfig.ReadWritePaths = [ cacheDir ];

      # In the VM's store without a build there.
      system.extraDependencies = [ generation ];
      virtualisation.graphics = false;
    };

  testScript = ''
    machine.wait_for_unit("multi-user.target")
    machine.wait_for_unit("genpush-system.path")
    machine.wait_for_unit("genpush-verify.timer")
    machine.succeed("test -L /etc/genpush/config.yaml")
    machine.succeed("grep -q 'file://${cacheDir}' /etc/genpush/config.yaml")
    # The unit files are the package's, ExecStart pointing at it.
    machine.succeed("systemctl cat genpush-system.service | grep -q '^ExecStart=/nix/store/.*/bin/genpush push --profile system'")

    machine.succeed("nix-env --profile /nix/var/nix/profiles/system --set ${generation}")

    machine.wait_until_succeeds("test -e ${cacheDir}/${hashOf generation}.narinfo", timeout=120)
    machine.wait_until_succeeds("test -e ${cacheDir}/${hashOf payload}.narinfo", timeout=30)
    machine.wait_until_succeeds("systemctl show -P Result genpush-system.service | grep -qx success", timeout=60)

    # The state says the cache has it: a second run asks nothing and pushes nothing.
    import json
    status = json.loads(machine.succeed("genpush status --json"))
    profile = next(p for p in status["profiles"] if p["profile"] == "system")
    cache = next(c for c in profile["caches"] if c["cache"] == "local")
    assert cache["lastPushed"]["storePath"] == "${generation}", f"not recorded as pushed: {cache}"
    assert not cache["pending"], f"still pending: {cache}"
    machine.succeed("systemctl start genpush-system.service")
    machine.succeed("systemctl show -P Result genpush-system.service | grep -qx success")

    # verify --repair, as the timer runs it, finds the cache complete.
    machine.succeed("systemctl start genpush-verify.service")
    machine.succeed("systemctl show -P Result genpush-verify.service | grep -qx success")
  '';
}
