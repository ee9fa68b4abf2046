# genpush, built from this checkout with Node 22.
#
# Dependencies come from package-lock.json through importNpmLock, one fetch
# per package checked against the lock file's integrity hash, so there is no
# dependency hash to keep up to date by hand.
#
# The build: importNpmLock's config hook runs `npm install --ignore-scripts`
# (devDependencies included: esbuild is one), the build hook runs `npm run build`
# (esbuild bundles src/ into dist/, what `prepare` runs for `npm ci`), and the
# install hook copies what `npm pack` would ship (dist/, units/) after
# `npm prune --omit=dev`, so no devDependency reaches $out; installCheckPhase
# makes sure of it.
{
  lib,
  path,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
  # Where the locked packages are fetched from; by default nixpkgs' own npm mirror.
  npmRegistry ? null,
}:
let
  packageJSON = lib.importJSON ../package.json;
  mirrors = import (path + "/pkgs/build-support/fetchurl/mirrors.nix");
  registry =
    if npmRegistry != null then
      npmRegistry
    else if mirrors ? npm then
      lib.removeSuffix "/" (builtins.head mirrors.npm)
    else
      throw "This nixpkgs names no npm mirror (mirrors.nix has no `npm`): build genpush with `npmRegistry = \"https://...\";` given to nix/package.nix.";
in
buildNpmPackage {
  pname = "genpush";
  inherit (packageJSON) version;
  nodejs = nodejs_22;

  # Only what the build reads: a change to the tests or the README does not rebuild.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../src
      ../units
    ];
  };

  npmDeps = importNpmLock {
    package = packageJSON;
    # The lock file is written without `resolved` URLs; see npm-lock.nix.
    packageLock = import ./npm-lock.nix {
      lock = lib.importJSON ../package-lock.json;
      inherit registry;
    };
  };
  npmConfigHook = importNpmLock.npmConfigHook;
  npmBuildScript = "build";

  # No install scripts: esbuild's only checks its platform binary
  # (@esbuild/linux-*, a prebuilt static executable the build runs as it
  # is), and usocket, dbus-next's optional native socket, is left unbuilt;
  # dbus-next then connects with node's own net module, as it does wherever
  # usocket failed to build.
  npmRebuildFlags = [ "--ignore-scripts" ];

  # The unit files of units/ are the single source: copied wholesale, and the
  # only change is `@GENPUSH@` -> this package's genpush. System units go where
  # systemd.packages looks (lib/systemd/system); user units stay out of
  # lib/systemd/user, so the NixOS module does not install them for every
  # user: the home-manager module links them for the user who asks.
  postInstall = ''
    mkdir -p "$out/lib/systemd" "$out/share/systemd"
    cp -r units/system "$out/lib/systemd/system"
    cp -r units/user "$out/share/systemd/user"
    for unit in $(grep -rl '@GENPUSH@' "$out/lib/systemd/system" "$out/share/systemd/user"); do
      substituteInPlace "$unit" --replace-fail '@GENPUSH@' "$out/bin/genpush"
    done
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    "$out/bin/genpush" --version
    for dep in ${lib.escapeShellArgs (builtins.attrNames (packageJSON.devDependencies or { }))}; do
      if [ -e "$out/lib/node_modules/genpush/node_modules/$dep" ]; then
        echo "the devDependency $dep was installed into $out" >&2
        exit 1
      fi
    done
    if grep -rl '@GENPUSH@' "$out/lib/systemd/system" "$out/share/systemd/user"; then
      echo "a unit file above still holds @GENPUSH@" >&2
      exit 1
    fi
    grep -q "^ExecStart=$out/bin/genpush " "$out/lib/systemd/system/genpush-system.service"
    runHook postInstallCheck
  '';

  meta = {
    description = packageJSON.description;
    license = lib.licenses.mit;
    mainProgram = "genpush";
    platforms = lib.platforms.linux;
  };
}
