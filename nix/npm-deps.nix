# The npm packages package-lock.json locks, as tarballs: a fixed-output
# derivation, so the build may reach the network and its result is the one
# hash below (as nixpkgs' `npmDepsHash`).
#
# npm itself fetches each package (`npm pack NAME@VERSION`, npm's own default
# registry: no file here names a host) and fetch-npm-tarballs.mjs checks it
# against the lock file's integrity. The tarballs are the registry's bytes,
# named by package and version, so the hash depends on neither npm's version
# nor the time of the fetch.
#
# When package-lock.json changes, the hash must change with it:
# test/nix/npm-deps.test.ts fetches the same list the same way and prints the
# new value. The name carries a digest of the list, so a stale hash fails the
# next build with Nix's "hash mismatch … got: sha256-…" rather than reusing
# the old tarballs found in the store under the same name.
{
  lib,
  stdenvNoCC,
  nodejs,
  # From npm-lock.nix.
  tarballs,
}:
let
  list = builtins.toJSON tarballs;
in
stdenvNoCC.mkDerivation {
  name = "genpush-npm-deps-${builtins.substring 0 12 (builtins.hashString "sha256" list)}";
  nativeBuildInputs = [ nodejs ];

  inherit list;
  passAsFile = [ "list" ];
  buildCommand = ''
    export HOME="$TMPDIR"
    # A proxy that re-signs TLS hands its certificate authority to fixed-output
    # builds this way (nixpkgs' fetchers do the same).
    if [ -n "''${NIX_SSL_CERT_FILE:-}" ]; then
      export NODE_EXTRA_CA_CERTS="$NIX_SSL_CERT_FILE"
    fi
    node ${./fetch-npm-tarballs.mjs} "$listPath" "$out"
  '';
  impureEnvVars = lib.fetchers.proxyImpureEnvVars;

  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
  outputHash = "sha256-2xEVc8gXpW8hA7+t5/80jc6YD7ULZCKdOyZuWBlVyB8=";
}
