# genpush, built from this checkout with nixpkgs' `nodejs`: the Node release nixpkgs ships as
# its LTS (Node 22 or 24 today), so the package follows the nixpkgs it is built with. Any
# Node package.json's `engines` allows will do; an older one fails the evaluation, saying so.
#
# Dependencies: npm-deps.nix fetches every package package-lock.json locks
# (one fixed-output derivation, its hash kept there), and npm-lock.nix points
# each lock entry at its tarball, so the install runs offline and nothing
# here names a registry. The lock file records no `resolved` URLs, and nixpkgs
# has no npm mirror to guess them from (mirrors.nix has no `npm`).
#
# The build: importNpmLock's config hook runs `npm install --ignore-scripts`
# from that lock (devDependencies included: esbuild is one), the build hook
# runs `npm run build` (esbuild bundles src/ into dist/, what `prepare` runs
# for `npm ci`), and the install hook copies what `npm pack` would ship
# (dist/, units/) after `npm prune --omit=dev`, so no devDependency reaches
# $out; installCheckPhase makes sure of it.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs,
  runCommand,
  stdenvNoCC,
}:
let
  packageJSON = lib.importJSON ../package.json;

  # The Nix systems this package builds on, in npm's words: the platform
  # packages (esbuild's binary) fetched are those these can run.
  npmPlatforms = {
    x86_64-linux = {
      os = "linux";
      cpu = "x64";
    };
    aarch64-linux = {
      os = "linux";
      cpu = "arm64";
    };
  };

  lockFile = import ./npm-lock.nix {
    lock = lib.importJSON ../package-lock.json;
    platforms = builtins.attrValues npmPlatforms;
  };
  # ">=20.19": the oldest Node genpush runs on.
  oldestNode = lib.removePrefix ">=" packageJSON.engines.node;
  tarballs = import ./npm-deps.nix {
    inherit lib stdenvNoCC nodejs;
    inherit (lockFile) tarballs;
  };

  # What importNpmLock's config hook installs from: package.json, and the lock
  # file with every package at its tarball.
  npmLock = runCommand "genpush-npm-lock" {
    lock = builtins.toJSON (lockFile.lockWith tarballs);
    passAsFile = [ "lock" ];
  } ''
    mkdir "$out"
    cp ${../package.json} "$out/package.json"
    cp "$lockPath" "$out/package-lock.json"
  '';
in
assert lib.assertMsg (lib.versionAtLeast nodejs.version oldestNode)
  "genpush needs Node ${oldestNode} or later; this nixpkgs's nodejs is ${nodejs.version}";
buildNpmPackage {
  pname = "genpush";
  inherit (packageJSON) version;
  inherit nodejs;

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

  npmDeps = npmLock;
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
    # npm's record of what it installed names each tarball it installed from:
    # a reference that would keep every dependency's tarball alive with the
    # package. npm does not need it to run.
    rm -f "$out/lib/node_modules/genpush/node_modules/.package-lock.json"
    mkdir -p "$out/lib/systemd" "$out/share/systemd"
    cp -r units/system "$out/lib/systemd/system"
    cp -r units/user "$out/share/systemd/user"
    for unit in $(grep -rl '@GENPUSH@' "$out/lib/systemd/system" "$out/share/systemd/user"); do
      substituteInPlace "$unit" --replace-fail '@GENPUSH@' "$out/bin/genpush"
    done
  '';

  # `nix build .#default.npmTarballs` fetches the dependencies alone, and a
  # stale hash shows its new value (test/nix/npm-deps.test.ts checks it in CI).
  passthru.npmTarballs = tarballs;

  disallowedReferences = [
    tarballs
    npmLock
  ];

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
    platforms = builtins.attrNames npmPlatforms;
  };
}
